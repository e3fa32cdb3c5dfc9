# The app as the compose file runs it. Multi-stage: dependencies and the
# production build in one stage (no secrets needed to build), a runtime stage
# without dev dependencies that runs as the unprivileged `node` user. On start
# it applies the migrations, then `exec`s the server, so `node` is PID 1 and
# Docker's SIGTERM reaches the drain (clients resume on another instance).
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS run
WORKDIR /app
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 HOSTNAME=0.0.0.0 PORT=3000
COPY --from=build --chown=node:node /app ./
USER node
EXPOSE 3000
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "node --import tsx scripts/db-migrate.ts --production && exec node --import tsx/esm server.ts"]
