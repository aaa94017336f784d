# syntax=docker/dockerfile:1
#
# allmap in one image: `allmap run` (the learner), `allmap produce` (demo producers) and
# every other subcommand. The entrypoint is `allmap`, so arguments are its arguments:
#
#   docker build -t allmap .
#   docker run --rm allmap run --brokers kafka:9092
#
# Build with --build-arg FASHION_MNIST=true to include the Fashion-MNIST files (Debian
# package dataset-fashion-mnist) for the fashion workloads.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: install every dependency, compile TypeScript, drop the dev dependencies ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# The project's .npmrc makes onnxruntime-node skip its CUDA download, so `npm ci` needs
# nothing beyond the npm registry; its CPU build ships inside the package.
COPY package.json package-lock.json .npmrc ./
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY schemas ./schemas
COPY src ./src

# `npm ci` runs the prepare script, which compiles src/ into dist/.
RUN npm ci && npm prune --omit=dev && npm cache clean --force

# --- runtime ---
FROM ${NODE_IMAGE}
ARG FASHION_MNIST=false
RUN if [ "$FASHION_MNIST" = "true" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends dataset-fashion-mnist \
      && rm -rf /var/lib/apt/lists/*; \
    fi

ENV NODE_ENV=production \
    ALLMAP_DATA_DIR=/var/lib/allmap
WORKDIR /app

COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/schemas ./schemas

# The data dir exists in the image, owned by `node`, so a fresh named volume mounted
# there inherits that owner and the learner can write its files.
RUN chmod 755 /app/bin/allmap.js \
    && ln -s /app/bin/allmap.js /usr/local/bin/allmap \
    && mkdir -p /var/lib/allmap \
    && chown node:node /var/lib/allmap

USER node
# Prometheus metrics, /healthz and /readyz (config key metrics.port).
EXPOSE 9464
ENTRYPOINT ["allmap"]
CMD ["--help"]
