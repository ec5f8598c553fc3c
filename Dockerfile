# syntax=docker/dockerfile:1
# kube-sgx: one image for every component. The entrypoint is the kube-sgx CLI:
#   docker run --rm IMAGE --help
#   docker run --rm IMAGE node-agent --host-root /host ...
# Build:  docker build -t REGISTRY/kube-sgx:0.1.0 .
# With Intel's DCAP quote library for `quote-helper --backend dcap`:
#   docker build --build-arg INTEL_DCAP=true -t REGISTRY/kube-sgx:0.1.0-dcap .
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# better-sqlite3 and koffi ship prebuilt linux-x64 binaries; the toolchain is the
# fallback when a prebuild is missing for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build

# ---- deps: production node_modules only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# ---- runtime: node + compiled JS + production deps, non-root ----
FROM ${NODE_IMAGE} AS runtime
ARG INTEL_DCAP=false
# Optional: Intel's DCAP quote library (libsgx_dcap_ql.so.1 and the QE3/PCE enclaves),
# loaded lazily by the quote helper's dcap backend. Off by default: the simulator,
# webhook, node agent and attestation service do not need it.
RUN if [ "$INTEL_DCAP" = "true" ]; then \
      apt-get update \
   && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
   && install -d -m 0755 /etc/apt/keyrings \
   && curl -fsSL https://download.01.org/intel-sgx/sgx_repo/ubuntu/intel-sgx-deb.key -o /etc/apt/keyrings/intel-sgx.asc \
   && echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/intel-sgx.asc] https://download.01.org/intel-sgx/sgx_repo/ubuntu jammy main" > /etc/apt/sources.list.d/intel-sgx.list \
   && apt-get update \
   && apt-get install -y --no-install-recommends libsgx-dcap-ql libsgx-dcap-default-qpl \
   && apt-get purge -y curl gnupg && apt-get autoremove -y \
   && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY proto ./proto
COPY bin ./bin
# `kube-sgx` on PATH too, for `kubectl exec ... -- kube-sgx status` and the like.
RUN ln -s /app/bin/kube-sgx.js /usr/local/bin/kube-sgx \
 && groupadd --system --gid 10001 kube-sgx \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin kube-sgx
# Non-root by default. The node agent and quote helper set runAsUser: 0 in their
# DaemonSets only to create sockets in root-owned host directories.
USER 10001:10001
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
