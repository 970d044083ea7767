# syntax=docker/dockerfile:1
# Multi-stage: dependencies and the web build in one stage, a slim non-root runtime in the other.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build:web && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
RUN groupadd --system countersign && useradd --system --gid countersign --home /app countersign
COPY --from=build --chown=countersign:countersign /app /app
USER countersign
EXPOSE 3000
CMD ["npx", "tsx", "api/server.ts"]
