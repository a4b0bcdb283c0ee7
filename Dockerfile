FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY callwatch callwatch
COPY streams streams
COPY producers producers
COPY alerts alerts
COPY console console
RUN pip install --no-cache-dir .
# The one place the services write (the worker's Faust data directory, CALLWATCH_DATA_DIR), owned by the
# user they run as; it is also their working directory, since /app is root's and read-only to them.
RUN mkdir -p /var/lib/callwatch && chown nobody:nogroup /var/lib/callwatch
ENV CALLWATCH_DATA_DIR=/var/lib/callwatch
WORKDIR /var/lib/callwatch
USER nobody
EXPOSE 6066
ENTRYPOINT ["callwatch"]
CMD ["worker"]
