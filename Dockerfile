# syntax=docker/dockerfile:1
# KoCLIP encoder function for a CUDA host: Hono on Node, onnxruntime-node with the CUDA
# execution provider, sharp for decoding. See docs/deploy.md.
#
#   docker build -t koclip-encoder .
#   docker run --gpus all -p 8788:8788 -e ENCODER_TOKEN=... koclip-encoder
#
# onnxruntime-node 1.30's CUDA provider is built for CUDA 12 with cuDNN 9: the runtime image
# must provide both (any nvidia/cuda 12.x cudnn runtime tag does).
ARG NODE_IMAGE=node:22-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies without install scripts (as in development), then onnxruntime-node's
# CUDA provider libraries, fetched explicitly by its own installer (from NuGet).
RUN npm ci --omit=dev --ignore-scripts \
  && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
  && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM ${CUDA_IMAGE}
ENV NODE_ENV=production \
    ENCODER_HOST=0.0.0.0 \
    ENCODER_PORT=8788 \
    ENCODER_PROVIDER=cuda \
    ENCODER_MODELS_DIR=/app/models
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src/core ./src/core
COPY src/encoder ./src/encoder
# Model packages; mount another folder over /app/models to serve other packages.
COPY models ./models
RUN useradd --system --uid 10001 --no-create-home encoder
USER encoder
EXPOSE 8788
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.ENCODER_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--experimental-transform-types", "--disable-warning=ExperimentalWarning", "--import", "./src/encoder/ts-hooks.mjs", "src/encoder/main.ts"]
