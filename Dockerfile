# mobilenet-v2 serve: the inference server with the built-in models (see README, "Serve it").
#   docker build -t mobilenet-v2 .
#   docker run -p 8080:8080 mobilenet-v2
# The image runs the mobilenet-v2 command: `docker run mobilenet-v2 classify ...` works too, and so
# does a batch-job worker (README, "Many machines"):
#   docker run --no-healthcheck -v /data:/data mobilenet-v2 worker --redis redis://queue-host:6379

# Build: compile the TypeScript and pack the package as npm would publish it.
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# onnxruntime-node's install script would download CUDA libraries; the CPU build needs none.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && npm pack --ignore-scripts

# Run: the package installed as an app installs it, plus the optional peers of serve and worker.
FROM node:20-slim
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY --from=build /src/mobilenet-v2-*.tgz /tmp/
RUN npm init -y > /dev/null \
 && npm install --no-audit --no-fund /tmp/mobilenet-v2-*.tgz fastify@^5.12.8 @fastify/multipart@^10.1.9 prom-client@^15.1.3 bullmq@^6.7.0 ioredis@^6.0.0 \
 && rm /tmp/mobilenet-v2-*.tgz && npm cache clean --force
# Non-root; the compiled-graph cache goes to /home/node/.cache/mobilenet-v2.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/v2/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/node_modules/mobilenet-v2/dist/src/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
