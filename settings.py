"""The service's configuration: one typed, frozen object read from the environment once.

Every other module receives a `Settings` (or calls `get_settings()`); nothing else reads
`os.environ`. Variables are upper-case field names (`REDIS_URL`, `OPENAI_MODEL`, ...); a `.env`
file in the working directory is read too, the environment winning.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", frozen=True, extra="ignore")

    env: Literal["development", "production"] = "development"

    # Broker, result backend, job store and event bus all live in this one Redis.
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_max_connections: int = Field(default=64, ge=2)
    # Prefix of every key, channel and Celery queue we own, so several deployments (or test
    # stacks) can share one Redis without seeing each other.
    key_prefix: str = Field(default="cvi", pattern=r"^[A-Za-z0-9_.-]+$")

    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o"
    openai_base_url: str | None = None
    # The openai client's default is 600 s; a stalled stream should fail (and be retried) long
    # before that.
    openai_timeout_seconds: float = Field(default=60.0, gt=0)
    openai_max_output_tokens: int = Field(default=4096, gt=0)
    # Ask for token usage at the end of the stream; some OpenAI-compatible servers reject it.
    openai_stream_usage: bool = True

    ai_max_retries: int = Field(default=5, ge=0)
    ai_retry_base_seconds: float = Field(default=2.0, ge=0)
    ai_retry_max_seconds: float = Field(default=60.0, ge=0)

    # Output chunks are coalesced into one event per this many ms or characters.
    stream_flush_ms: int = Field(default=50, ge=0)
    stream_flush_chars: int = Field(default=200, gt=0)

    event_log_max: int = Field(default=1000, ge=10)
    subscriber_queue_size: int = Field(default=256, ge=1)
    # After this long without a pub/sub connection, live subscriptions end with an error
    # instead of waiting forever.
    listener_give_up_seconds: float = Field(default=30.0, gt=0)

    cv_text_max_chars: int = Field(default=50_000, gt=0)
    position_max_chars: int = Field(default=255, gt=0)
    # Industry and location, as in the original product.
    short_text_max_chars: int = Field(default=255, gt=0)
    job_description_max_chars: int = Field(default=5_000, gt=0)
    prompt_min_chars: int = Field(default=10, ge=0)
    prompt_max_chars: int = Field(default=5_000, gt=0)
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Extraction caps: a CV longer than this is not a CV (or not one a model should read whole).
    resume_max_pages: int = Field(default=30, gt=0)
    # A rewrite longer than this is cut when stored (and the response says so).
    response_max_chars: int = Field(default=100_000, gt=0)

    job_max_redeliveries: int = Field(default=3, ge=0)
    job_time_limit_seconds: int = Field(default=900, gt=0)
    # A task whose worker vanished is handed to another worker after this many seconds; it must
    # exceed the longest job, or a live job gets a second runner (which then supersedes it).
    broker_visibility_timeout: int = Field(default=3600, gt=0)
    broker_restore_interval: int = Field(default=10, gt=0)

    # Bearer tokens (JWT): HS256 with JWT_SECRET, or RS256/ES256 with JWT_PUBLIC_KEY (PEM).
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    # Local play only: every caller without a token is one Premium user. Refused in production.
    auth_disabled: bool = False
    # Origins (besides the API's own) whose pages may open WebSockets, comma-separated.
    allowed_origins: str = ""
    max_active_jobs_per_user: int = Field(default=5, gt=0)
    max_websockets_per_user: int = Field(default=10, gt=0)

    # --- Bounds on what a caller may send (C10) ---------------------------------------------
    # A GraphQL document: its bytes and its lexical tokens, checked before it is parsed further.
    graphql_max_document_bytes: int = Field(default=100_000, gt=0)
    graphql_max_tokens: int = Field(default=5_000, gt=0)
    # A JSON request body (queries, mutations, variables), counted while it is read.
    http_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # A request whose body stops arriving for this long is cut (slowloris).
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    # ... and so is one slower than this many bytes a second (each buys a second beyond the
    # timeout): a trickle cannot hold a request open.
    http_body_min_rate: int = Field(default=500, gt=0)
    # All of a request's (or a WebSocket handshake's) headers together; Accept and Content-Type
    # have 1 KiB each (graph/edges/header_limits.py).
    http_max_header_bytes: int = Field(default=16 * 1024, gt=0)
    # A socket silent this long gets a ping; one that stays silent another interval is closed.
    ws_ping_interval_seconds: float = Field(default=30.0, gt=0)
    # One graphql-transport-ws message.
    ws_max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    # Objects one operation may load from Redis (nested lists multiply them); past it the
    # fields answer QUERY_TOO_COMPLEX.
    graphql_max_loaded_objects: int = Field(default=2_000, gt=0)
    # Compiled subscription plans kept in memory, all plans together.
    plan_cache_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)

    # --- Budgets of a worker for one uploaded file (C10) --------------------------------------
    # Extraction runs in a child process with these limits; past them the job fails with
    # DOCUMENT_TOO_COMPLEX.
    extract_time_limit_seconds: float = Field(default=30.0, gt=0)
    extract_memory_limit_mb: int = Field(default=512, gt=0)
    # Celery's backstop: a pool process above this resident size is replaced after its task.
    worker_max_memory_per_child_mb: int = Field(default=1024, gt=0)

    # --- Phone numbers in the redactor (jobs/cv/privacy.py) ----------------------------------------
    # Countries (ISO 3166 codes) whose national numbers, written without a country code, are
    # hidden from the model; the first one's international prefix (00 for GB) is read as a "+".
    # Numbers written with "+country code" are hidden whatever their country. Each region is one
    # more pass of the matcher over the CV (bench/redactor.py).
    phone_regions: str = Field(default="GB,US,DE,FR,IN", pattern=r"^[A-Z]{2}(,[A-Z]{2})*$")

    @model_validator(mode="after")
    def _phone_regions_are_known(self) -> Settings:
        # A code libphonenumber does not know would find no national number at all, silently.
        from phonenumbers import SUPPORTED_REGIONS

        unknown = sorted(set(self.phone_regions.split(",")) - SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"PHONE_REGIONS holds region codes libphonenumber does not know: {unknown}")
        return self

    # --- Redis restarts (C11) -------------------------------------------------------------------
    # A worker's Redis calls retry a lost connection (with backoff) this long before the run gives
    # up; a job whose run gave up is taken over once its lease lapses.
    redis_retry_seconds: float = Field(default=30.0, ge=0)
    # A running job's lease, renewed every third of it: a copy of its task that arrives while the
    # lease is live (a broker reconnect restored it) waits instead of starting the job over; only
    # a lapsed lease counts as a lost worker.
    job_lease_seconds: float = Field(default=10.0, gt=0)
    # How often each worker looks for jobs whose lease lapsed (their runner is gone, their task
    # may be too) and sends their task again.
    job_sweep_interval_seconds: float = Field(default=5.0, gt=0)
    # A job still QUEUED this long after it was created (or last swept) gets its task sent again:
    # its message may have been lost with Redis's last second of AOF.
    job_queued_grace_seconds: float = Field(default=600.0, gt=0)

    # GraphiQL at GET /graphql in a browser: unset means on in development, off in production.
    graphiql: bool | None = None

    # --- HTTP subscriptions (multipart, SSE) ----------------------------------------------------
    # An HTTP subscription stream with nothing to say for this long gets a heartbeat (an empty
    # multipart part, an SSE comment), so that proxies and load balancers that cut idle
    # connections (nginx, AWS ALB: 60 s; some 30 s) leave it open.
    http_stream_heartbeat_seconds: float = Field(default=15.0, gt=0)

    # --- Persisted documents (APQ, a manifest) --------------------------------------------------
    # off: every request carries its document's text. apq: Apollo's automatic persisted queries
    # (a query may come as its sha256 alone once the API has seen its text). only: the API runs
    # only the documents of PERSISTED_DOCUMENTS_MANIFEST and refuses every other one.
    persisted_documents: Literal["off", "apq", "only"] = "apq"
    # A JSON manifest, as Apollo's generate-persisted-query-manifest or GraphQL Codegen's client
    # preset (persisted-documents.json) writes it; read once at startup (required by `only`).
    persisted_documents_manifest: str | None = None
    # What APQ documents may take in Redis, all together (each charged its bytes and a fixed
    # overhead); past it the least recently used go. Unused this long, a document goes too.
    apq_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    apq_ttl_seconds: float = Field(default=86_400.0, gt=0)

    # --- Redis Sentinel ----------------------------------------------------------------------------
    # Sentinels (host:port, comma-separated) that know where the Redis primary is: when set, the
    # API's pool and listener, the workers' clients and Celery's broker and result backend all ask
    # them for the primary of REDIS_SENTINEL_MASTER and follow a failover. REDIS_URL then gives
    # only the database number and the password (its host and port are not used).
    redis_sentinels: str = Field(default="", pattern=r"^$|^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$")
    redis_sentinel_master: str = "mymaster"
    # A job's events, and the API's creates and cancels, count as written once this many replicas
    # acknowledge them (WAIT), so a failover cannot lose an event subscribers already saw
    # (jobs/core/replication.py). Unset: 1 with REDIS_SENTINELS, else 0 (no wait). A replica
    # silent for REDIS_WAIT_MS is not waited for again for a few seconds.
    redis_wait_replicas: int | None = Field(default=None, ge=0)
    redis_wait_ms: int = Field(default=500, gt=0)

    @property
    def replicas_to_wait_for(self) -> int:
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_sentinels else 0

    @property
    def redis_sentinel_addresses(self) -> list[tuple[str, int]]:
        """The sentinels as (host, port); empty when Redis is reached by REDIS_URL alone."""
        pairs = (entry.rsplit(":", 1) for entry in self.redis_sentinels.split(",") if entry)
        return [(host, int(port)) for host, port in pairs]

    @property
    def redis_primary_kwargs(self) -> dict[str, Any]:
        """What REDIS_URL still says under Sentinel: the primary's database, user and password."""
        from redis.connection import parse_url

        parsed = parse_url(self.redis_url)  # type: ignore[no-untyped-call]
        return {name: parsed[name] for name in ("db", "username", "password") if name in parsed}

    # --- Logs and readiness -----------------------------------------------------------------------
    # text: one readable line per record; json: one JSON object per line (timestamp, level, logger,
    # message, request_id, job_id, job_kind, user_hash), for a log pipeline (jobs/core/logs.py).
    log_format: Literal["text", "json"] = "text"
    # The key of the user hashes in log lines (HMAC-SHA256): the same on every process, so that one
    # user's lines can be found together; unset, each process draws its own (no correlation).
    log_user_hash_key: SecretStr | None = None
    # /readyz asks the workers for a ping and waits this long for the first answer; its verdict is
    # kept this long, so that probes from many balancers cost one check per period.
    readyz_worker_timeout_seconds: float = Field(default=1.0, gt=0)
    readyz_cache_seconds: float = Field(default=2.0, ge=0)

    # --- Metrics ----------------------------------------------------------------------------------
    # A worker's /metrics (jobs/work/metrics.py): the port its main process serves every pool
    # process's metrics on, summed (prometheus-client's multiprocess mode, in a directory of its
    # own); 0: the worker exports nothing. One port per worker on a host.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = "0.0.0.0"

    # --- Personal data: exports (exportMyData) ------------------------------------------------------
    # EXPORT jobs a user may start per UTC day (each scans the deployment's keys once).
    exports_per_day: int = Field(default=3, ge=0)
    # The bytes an export may hold (its JSON document, the uploaded files and the PDFs, before
    # compression); past it the job fails with EXPORT_TOO_LARGE. The zip lives in Redis this long.
    export_max_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    export_ttl_seconds: int = Field(default=3600, gt=0)
    # The API's log level (a worker's is celery's --loglevel). DEBUG is audited like INFO: no CV
    # text, contact detail or token at any level (tests/test_logs.py).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- Personal data: deletes, erasure (deleteMyData) and retention --------------------------------
    # After deleteMyData, ask Redis to rewrite its AOF (BGREWRITEAOF) so the file on disk no longer
    # holds what was erased; unset means on in development (the embedded Redis of `make run`), off
    # in production, where the operator owns Redis and its backups (README "Personal data").
    erase_rewrites_aof: bool | None = None
    # Finished jobs, their outputs and the uploads they read are erased this many days after they
    # finished (fractions allowed: tests use seconds); unset keeps them until their owner deletes them.
    retention_days: float | None = Field(default=None, gt=0)
    # How often Celery beat runs the retention sweep (jobs/work/retention.py).
    retention_interval_seconds: float = Field(default=3600.0, gt=0)

    @property
    def rewrites_aof_after_erase(self) -> bool:
        if self.erase_rewrites_aof is None:
            return self.env == "development"
        return self.erase_rewrites_aof

    # --- The demo page (/demo) ------------------------------------------------------------------
    # examples/web at /demo: unset means on in development, off in production. Only a development
    # API hands the page a token (for one shared user); with DEMO=true in production, visitors
    # paste their own.
    demo: bool | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    data_dir: str = ".data"

    @model_validator(mode="after")
    def _visibility_outlasts_jobs(self) -> Settings:
        if self.env == "production" and self.broker_visibility_timeout <= self.job_time_limit_seconds:
            raise ValueError(
                "BROKER_VISIBILITY_TIMEOUT must exceed JOB_TIME_LIMIT_SECONDS in production, "
                f"got {self.broker_visibility_timeout} <= {self.job_time_limit_seconds}"
            )
        return self

    @model_validator(mode="after")
    def _auth_is_real_in_production(self) -> Settings:
        if self.env == "production" and self.auth_disabled:
            raise ValueError("AUTH_DISABLED=true is refused when ENV=production")
        if self.env == "production" and self.jwt_secret is None and self.jwt_public_key is None:
            raise ValueError("ENV=production needs JWT_SECRET or JWT_PUBLIC_KEY to verify tokens")
        return self

    @property
    def allowed_origin_list(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.env == "development"

    @property
    def openai_enabled(self) -> bool:
        return self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())


@cache
def get_settings() -> Settings:
    return Settings()
