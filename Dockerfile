FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY callwatch callwatch
COPY streams streams
COPY producers producers
COPY alerts alerts
COPY console console
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 6066
ENTRYPOINT ["callwatch"]
CMD ["worker"]
