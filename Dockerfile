# One image recipe for every Coinslot service; SERVICE picks the entry point.
#   docker build --build-arg SERVICE=accounts -t coinslot/accounts .
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/kernel/package.json packages/kernel/
COPY packages/testing/package.json packages/testing/
COPY gateway/package.json gateway/
COPY subgraphs/accounts/package.json subgraphs/accounts/
COPY subgraphs/catalog/package.json subgraphs/catalog/
COPY subgraphs/billing/package.json subgraphs/billing/
COPY subgraphs/scratch-cards/package.json subgraphs/scratch-cards/
COPY subgraphs/channels/package.json subgraphs/channels/
RUN npm ci --no-audit --no-fund

FROM node:20-bookworm-slim
ARG SERVICE
ENV NODE_ENV=production APOLLO_TELEMETRY_DISABLED=1 HOST=0.0.0.0 SERVICE_ENTRY=${SERVICE}
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY . .
USER node
# gateway → gateway/src/main.ts, subgraphs → subgraphs/<name>/src/main.ts, migrate → scripts/migrate.ts
CMD ["sh", "-c", "case \"$SERVICE_ENTRY\" in gateway) exec node --import tsx gateway/src/main.ts;; migrate) exec node --import tsx scripts/migrate.ts;; simulators) exec node --import tsx subgraphs/channels/src/simulators-main.ts;; *) exec node --import tsx subgraphs/$SERVICE_ENTRY/src/main.ts;; esac"]
