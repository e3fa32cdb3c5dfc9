# The app as the compose file runs it: production build, `npm start`
# (applies migrations, then server.ts: Next.js plus the SSE fast path).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN npm ci
COPY . .
RUN npm run build
ENV NODE_ENV=production HOSTNAME=0.0.0.0 PORT=3000
EXPOSE 3000
# SIGTERM drains the streams (clients resume on the other instance) and exits within EVENTS_SHUTDOWN_TIMEOUT_MS.
STOPSIGNAL SIGTERM
CMD ["npm", "start"]
