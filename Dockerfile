# syntax=docker/dockerfile:1
# Multi-stage: install, typecheck and compile in one stage (`npm run build`: tsc, the web app,
# then scripts/build.ts → dist/), a slim non-root runtime with production dependencies in the
# other. The runtime runs plain JavaScript with node: no tsx, no TypeScript, no bundler.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
RUN groupadd --system countersign && useradd --system --gid countersign --home /app countersign
COPY --from=build --chown=countersign:countersign /app/package.json /app/package-lock.json ./
COPY --from=build --chown=countersign:countersign /app/node_modules ./node_modules
COPY --from=build --chown=countersign:countersign /app/dist ./dist
COPY --from=build --chown=countersign:countersign /app/web/dist ./web/dist
COPY --from=build --chown=countersign:countersign /app/data ./data
USER countersign
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/api/server.js"]
