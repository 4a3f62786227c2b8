//! The Pingora `ProxyHttp` impl: a table of contents, each hook one line into its phase module.
//!
//! Every request is answered in `request_filter` (proxy/request.rs): admin routes directly, LLM calls
//! through Pingora's connector driven by proxy/upstream.rs (which says why), so `upstream_peer` is
//! never reached; it refuses rather than guess.

pub mod access;
pub mod ctx;
pub mod health;
pub mod logging;
pub mod request;
pub mod response;
pub mod retry;
pub mod upstream;

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::connectors::http::Connector;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error as PError, ErrorType, Result};
use pingora_proxy::{ProxyHttp, Session};

use crate::keys::Keys;
use crate::reload::{InFlight, Live};
use crate::spend::Limits;
use crate::upstream::Resolver;
use ctx::RequestCtx;

/// The gateway: the live config, the upstream connector (pool, TLS, h2) and the DNS cache.
pub struct Gateway {
    /// The live config.
    pub live: Arc<Live>,
    /// Pingora's HTTP connector with its connection pool.
    pub connector: Connector,
    /// Async DNS with a small cache.
    pub resolver: Resolver,
    /// Virtual keys, teams, users and end-users: the cache the hot path reads, and the admin API.
    pub keys: Arc<Keys>,
    /// Budget, rate and parallel counters (memory, or Redis shared by every instance).
    pub limits: Arc<Limits>,
    /// How long a client connection may idle, and how long a client may take to send a body or to read.
    pub client: request::ClientTimeouts,
}

impl Gateway {
    /// What the keys database and Redis say now, for /health, readiness and /metrics.
    pub fn backends(&self) -> crate::admin::Backends {
        crate::admin::Backends {
            database_up: self.keys.db_healthy(),
            redis_up: match self.limits.state() {
                crate::spend::BackendState::Memory => None,
                crate::spend::BackendState::Redis => Some(true),
                crate::spend::BackendState::RedisDown => Some(false),
            },
            fail_closed: self.live.current.load().config.general.fail_closed,
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.live.current.load_full(), InFlight::new(&self.live.in_flight))
    }

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut RequestCtx) -> Result<()> {
        request::connection_rules(&self.client, session);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        request::handle(self, session, ctx).await.map(|()| true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        Err(PError::explain(ErrorType::InternalError, "every request is answered in request_filter"))
    }

    async fn logging(&self, session: &mut Session, e: Option<&PError>, ctx: &mut RequestCtx) {
        access::settle(self, ctx);
        logging::log(session, e, ctx);
    }
}
