//! A simulated org whose listener can be closed and opened again on the same port:
//! while it is down, every connection attempt is refused, as when an org (or the
//! network to it) is unreachable. Its data and tokens survive the outage.

use sobject_sink::sim::org::Org;
use sobject_sink::sim::{OrgConfig, SimConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An org served on a fixed loopback port that can be taken away and brought back.
pub struct SwitchableOrg {
    org: Arc<Org>,
    addr: SocketAddr,
    serving: Option<(CancellationToken, JoinHandle<()>)>,
    /// Ends stalled calls and Bulk jobs when the org is dropped.
    life: CancellationToken,
}

impl SwitchableOrg {
    /// Starts serving `config` on a free loopback port.
    pub fn start(rt: &tokio::runtime::Runtime, config: OrgConfig) -> SwitchableOrg {
        SimConfig::single(config.clone())
            .validate()
            .expect("valid org configuration");
        let listener = rt
            .block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let life = CancellationToken::new();
        let org = Arc::new(Org::new(
            config,
            format!("http://{addr}"),
            life.child_token(),
        ));
        let mut me = SwitchableOrg {
            org,
            addr,
            serving: None,
            life,
        };
        me.serve(rt, listener);
        me
    }

    fn serve(&mut self, rt: &tokio::runtime::Runtime, listener: TcpListener) {
        let cancel = CancellationToken::new();
        let task = rt.spawn(sobject_sink::sim::serve(
            listener,
            self.org.clone(),
            cancel.clone(),
        ));
        self.serving = Some((cancel, task));
    }

    /// The org's base URL (its login URL and instance URL).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every open connection: from now on connections are
    /// refused.
    pub fn down(&mut self, rt: &tokio::runtime::Runtime) {
        if let Some((cancel, task)) = self.serving.take() {
            cancel.cancel();
            let _ = rt.block_on(task);
        }
    }

    /// Listens on the same port again.
    pub fn up(&mut self, rt: &tokio::runtime::Runtime) {
        assert!(self.serving.is_none(), "the org is already up");
        let deadline = Instant::now() + Duration::from_secs(30);
        let listener = loop {
            match rt.block_on(TcpListener::bind(self.addr)) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "cannot listen on {} again: {e}",
                        self.addr
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        self.serve(rt, listener);
    }
}

impl Drop for SwitchableOrg {
    fn drop(&mut self) {
        self.life.cancel();
        if let Some((cancel, _)) = self.serving.take() {
            cancel.cancel();
        }
    }
}
