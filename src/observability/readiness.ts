/**
 * What `/readyz` reports. A learner is ready when it is consuming its partitions and
 * knows how it will initialise mappings: from a loaded meta version, or from the seeded
 * initialisation because a cold start was chosen deliberately. A learner that is alive
 * but still waiting for either should get no traffic from an orchestrator yet.
 */
export interface ReadinessReport {
  isReady: boolean;
  /** One sentence per missing condition; empty when ready. */
  missing: string[];
  isConsuming: boolean;
  isColdStart: boolean;
  /** The meta version loaded for each family. */
  metaVersions: Record<string, number>;
}

export class Readiness {
  private isConsuming = false;
  private isColdStart = false;
  private readonly metaVersions = new Map<string, number>();

  /** Call with true once the consumer has joined its group and runs; false when it stops. */
  setConsuming(isConsuming: boolean): void {
    this.isConsuming = isConsuming;
  }

  /** Records that a family's encoder and generator of `version` are loaded and in use. */
  setMetaVersionLoaded(family: string, version: number): void {
    this.metaVersions.set(family, version);
  }

  /**
   * Records that the learner deliberately starts without any meta version: initial
   * mappings come from the seeded initialisation until the first meta-update.
   */
  setColdStart(): void {
    this.isColdStart = true;
  }

  get isReady(): boolean {
    return this.report().isReady;
  }

  report(): ReadinessReport {
    const missing: string[] = [];
    if (!this.isConsuming) {
      missing.push('consuming: the consumer has not joined its group yet, or has stopped');
    }
    if (!this.isColdStart && this.metaVersions.size === 0) {
      missing.push('meta version: none is loaded and no cold start was chosen');
    }

    return {
      isReady: missing.length === 0,
      missing,
      isConsuming: this.isConsuming,
      isColdStart: this.isColdStart,
      metaVersions: Object.fromEntries(this.metaVersions),
    };
  }
}
