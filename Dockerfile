# syntax=docker/dockerfile:1
# kube-sgx: one image for every component. The entrypoint is the kube-sgx CLI:
#   docker run --rm IMAGE --help
#   docker run --rm IMAGE node-agent --host-root /host ...
# Two targets, one Dockerfile:
#   docker build --target runtime      -t REGISTRY/kube-sgx:0.1.0 .       # simulation overlay, any cluster without SGX quoting
#   docker build --target runtime-dcap -t REGISTRY/kube-sgx:0.1.0-dcap .  # hardware overlays (aks, intel): + Intel's quote library and quote provider
#
# The base is pinned by digest: the node:20-bookworm-slim multi-arch index digest that
# independent public projects pin too (found by code search; it cannot be pulled from
# this build machine, so it was not re-checked here). To move to a newer Node 20 /
# bookworm image, read the current digest and replace it here and in NODE_IMAGE below:
#   docker buildx imagetools inspect node:20-bookworm-slim | grep -m1 Digest
#   (or: crane digest node:20-bookworm-slim)
# then build both targets and run the tests (test/deploy/dockerfile.test.ts).
ARG NODE_IMAGE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

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
# The image runs the compiled dist/, never TypeScript: tsx and its esbuild stay out even
# while package.json still lists tsx as a dependency (npm start / npm run kube-sgx use it).
RUN npm ci --omit=dev && npm cache clean --force \
 && rm -rf node_modules/tsx node_modules/esbuild node_modules/@esbuild node_modules/.bin/tsx node_modules/.bin/esbuild

# ---- intel-sgx: Intel's SGX packages for the SAME distribution as the base (Debian 12) ----
# Intel publishes Debian 12 packages as a local apt repository archive (not an online
# apt repository, unlike Ubuntu): download it, check it against Intel's SHA256SUM file
# for the DCAP release, and install from it with apt checking the repository signature
# (Intel's key, shipped in the archive). Both URLs are build arguments: for another DCAP
# release set INTEL_SGX_SHA256SUMS to that release's SHA256SUM_dcap_<version>.cfg.
FROM ${NODE_IMAGE} AS intel-sgx
ARG INTEL_SGX_DEBIAN_REPO=https://download.01.org/intel-sgx/latest/linux-latest/distro/Debian12/sgx_debian_local_repo.tgz
ARG INTEL_SGX_SHA256SUMS=https://download.01.org/intel-sgx/latest/dcap-latest/linux/SHA256SUM_dcap_1.23.cfg
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && cd /tmp \
 && curl -fsSL -o sgx_debian_local_repo.tgz "$INTEL_SGX_DEBIAN_REPO" \
 && curl -fsSL -o sha256sums.cfg "$INTEL_SGX_SHA256SUMS" \
 && want="$(grep 'distro/Debian12/sgx_debian_local_repo.tgz' sha256sums.cfg | cut -d' ' -f1)" \
 && test -n "$want" \
 && echo "$want  sgx_debian_local_repo.tgz" | sha256sum -c - \
 && mkdir -p /opt/intel /etc/apt/keyrings \
 && tar -xzf sgx_debian_local_repo.tgz -C /opt/intel \
 && cp /opt/intel/sgx_debian_local_repo/keys/intel-sgx.key /etc/apt/keyrings/intel-sgx.asc \
 && echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/intel-sgx.asc] file:/opt/intel/sgx_debian_local_repo bookworm main" > /etc/apt/sources.list.d/intel-sgx.list \
 && rm -f sgx_debian_local_repo.tgz sha256sums.cfg \
 && rm -rf /var/lib/apt/lists/*

# ---- runtime: node + compiled JS + production deps, non-root ----
FROM ${NODE_IMAGE} AS runtime
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

# ---- runtime-dcap: runtime + Intel's DCAP quote library and quote provider ----
# libsgx-dcap-ql (libsgx_dcap_ql.so.1 and the QE3/PCE enclaves), loaded lazily by the
# quote helper's dcap backend, and libsgx-dcap-default-qpl (libdcap_quoteprov.so.1), the
# quote provider it loads, which reads the QCNL configuration the manifests mount
# (deploy/components/dcap). No compilers, curl or apt lists are left behind.
FROM runtime AS runtime-dcap
USER 0:0
COPY --from=intel-sgx /opt/intel/sgx_debian_local_repo /opt/intel/sgx_debian_local_repo
COPY --from=intel-sgx /etc/apt/keyrings/intel-sgx.asc /etc/apt/keyrings/intel-sgx.asc
COPY --from=intel-sgx /etc/apt/sources.list.d/intel-sgx.list /etc/apt/sources.list.d/intel-sgx.list
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsgx-dcap-ql libsgx-dcap-default-qpl \
 && rm -rf /var/lib/apt/lists/* /opt/intel/sgx_debian_local_repo /etc/apt/sources.list.d/intel-sgx.list
USER 10001:10001
