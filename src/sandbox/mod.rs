//! TEMPORARY placeholder with the sandbox's interface; replaced by the real emulator.
use axum::Router;
pub struct SandboxConfig {
    pub token: String,
    pub rate_limits: bool,
}
#[derive(Clone)]
pub struct Sandbox;
impl Sandbox {
    #[must_use]
    pub fn new(_c: SandboxConfig) -> Self {
        Self
    }
    pub fn router(&self) -> Router {
        Router::new()
    }
    pub fn set_webhook(&self, _url: String, _secret: Option<String>) {}
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}
