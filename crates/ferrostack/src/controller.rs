//! A controller: every API service on one listener, and the background
//! tasks that keep each controller in step with the others.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api_core::fault::{render_faults, FaultFormat};
use api_core::metrics::{Metrics, MetricsLayer};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use db::Db;
use identity::bootstrap::{bootstrap, BootstrapParams};
use identity::Identity;
use image::Images;
use placement::Placement;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Every migration of every service, in order.
pub fn migrations() -> Vec<&'static [db::MigrationSet]> {
    vec![identity::MIGRATIONS, placement::MIGRATIONS, image::MIGRATIONS, compute::MIGRATIONS, workflow::MIGRATIONS]
}

/// Every policy default of every service, by service type.
pub fn policy_defaults() -> Vec<(&'static str, &'static [policy::RuleDefault])> {
    vec![
        ("identity", identity::policies::DEFAULTS),
        ("placement", placement::policies::DEFAULTS),
        ("image", image::policies::DEFAULTS),
        ("compute", compute::policies::DEFAULTS),
    ]
}

/// Services in the catalog: (type, name, path under the public URL).
pub const SERVICES: &[(&str, &str, &str)] = &[
    ("identity", "keystone", "/identity"),
    ("placement", "placement", "/placement"),
    ("image", "glance", "/image"),
    ("compute", "nova", "/compute/v2.1"),
];

pub struct Controller {
    pub config: Config,
    pub db: Db,
    pub identity: Arc<Identity>,
    pub placement: Arc<Placement>,
    pub image: Arc<Images>,
    pub compute: Arc<compute::Compute>,
    pub metrics: Arc<Metrics>,
    tasks: Vec<JoinHandle<()>>,
}

pub fn enforcer(config: &Config) -> anyhow::Result<policy::Enforcer> {
    let defaults: Vec<policy::RuleDefault> =
        policy_defaults().into_iter().flat_map(|(_, d)| d.iter().cloned()).collect();
    let mut e = policy::Enforcer::new(&defaults);
    if let Some(on) = config.policy.enforce_scope {
        e.set_enforce_scope(on);
    }
    if !config.policy.file.is_empty() {
        e.load_overrides_file(std::path::Path::new(&config.policy.file))
            .with_context(|| format!("cannot load policy file {}", config.policy.file))?;
    }
    Ok(e)
}

pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let url = config.database_url();
    let db = Db::connect(&url, config.database.max_connections).await.with_context(|| {
        format!("cannot open the database at {url}; check database.url and that the server is running")
    })?;
    db.migrate(&migrations()).await.context("database migration failed")?;
    Ok(db)
}

impl Controller {
    /// Opens the database (migrating it), and builds every service.
    pub async fn new(config: Config) -> anyhow::Result<Controller> {
        let db = connect(&config).await?;
        let key_dir = config
            .identity
            .fernet_key_repository
            .clone()
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| config.data_dir.join("fernet-keys"));
        let enforcer = Arc::new(enforcer(&config)?);
        let placement = Placement::new(db.clone(), config.placement.clone(), enforcer.clone());
        placement.init().await.context("cannot load the standard traits into the placement tables")?;
        let identity = Arc::new(Identity::new(
            db.clone(),
            config.identity.clone(),
            enforcer.clone(),
            format!("{}/identity", config.public_url()),
            &key_dir,
        )?);
        let store_dir = match config.image.filesystem_store_datadir.as_str() {
            "" => config.data_dir.join("images"),
            dir => std::path::PathBuf::from(dir),
        };
        let store = image::store::FilesystemStore::new(&store_dir)
            .with_context(|| format!("cannot create the image store directory {}", store_dir.display()))?;
        let staging_dir = match config.image.staging_dir.as_str() {
            "" => config.data_dir.join("image-staging"),
            dir => std::path::PathBuf::from(dir),
        };
        let staging = image::store::FilesystemStore::new(&staging_dir)
            .with_context(|| format!("cannot create the image staging directory {}", staging_dir.display()))?;
        let images = Images::new(
            db.clone(),
            config.image.clone(),
            enforcer.clone(),
            Arc::new(store),
            staging,
            format!("{}/image", config.public_url()),
        )
        .with_limits(Arc::new(IdentityLimits(identity.clone())));
        images.recover_stale_uploads().await.map_err(|e| anyhow::anyhow!(e.message))?;
        let placement = Arc::new(placement);
        let images = Arc::new(images);
        let compute = compute::Compute::new(
            db.clone(),
            config.compute.clone(),
            enforcer.clone(),
            format!("{}/compute", config.public_url()),
            placement.clone(),
            images.clone(),
        );
        Ok(Controller {
            config,
            db,
            identity,
            placement,
            image: images,
            compute,
            metrics: Arc::new(Metrics::default()),
            tasks: Vec::new(),
        })
    }

    /// Creates (or completes) the admin user, roles and catalog.
    /// Builds the test guest into `<data dir>/test-image` (a progress line
    /// per step on stdout) and registers its disk as the public qcow2 image
    /// `tiny` of the admin project, unless an image named `tiny` exists;
    /// answers the new image's id.
    pub async fn register_test_image(&self) -> anyhow::Result<Option<String>> {
        use api_core::RequestContext;
        let project = identity::db::get_project_by_name(&self.identity.db, identity::model::DEFAULT_DOMAIN_ID, "admin")
            .await?
            .context("the admin project is missing")?;
        let ctx = RequestContext {
            request_id: format!("req-{}", uuid::Uuid::new_v4()),
            project_id: Some(project.id),
            project_name: Some(project.name),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
            ..Default::default()
        };
        let query = image::core::ListQuery {
            filters: vec![("name".into(), "tiny".into())],
            member_status: "all".into(),
            ..Default::default()
        };
        if !self.image.list(&ctx, &query).await.map_err(|e| anyhow::anyhow!("{}", e.message))?.0.is_empty() {
            return Ok(None);
        }
        let out = self.config.data_dir.join("test-image");
        let dir = out.clone();
        tokio::task::spawn_blocking(move || {
            virt::test_image::build(&dir, &mut |line| println!("build-test-image: {line}"))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("cannot build the test image: {e}"))?;
        let data = std::fs::read(out.join(virt::test_image::DISK))
            .with_context(|| format!("cannot read {}", out.join(virt::test_image::DISK).display()))?;
        let body = serde_json::Map::from_iter(
            [("name", "tiny"), ("disk_format", "qcow2"), ("container_format", "bare"), ("visibility", "public")]
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(v))),
        );
        let api = |e: api_core::ApiError| anyhow::anyhow!("{}", e.message);
        let im = self.image.create(&ctx, body).await.map_err(api)?;
        let size = data.len() as u64;
        let stream = axum::body::Body::from(data).into_data_stream();
        self.image.upload(&ctx, &im.id, stream, Some(size)).await.map_err(api)?;
        tracing::info!(image = %im.id, bytes = size, "registered the test guest as image tiny");
        Ok(Some(im.id))
    }

    pub async fn bootstrap(&self, admin_password: &str, reset_password: bool) -> anyhow::Result<()> {
        let base = self.config.public_url();
        let params = BootstrapParams {
            admin_username: "admin".into(),
            admin_password: admin_password.into(),
            reset_password,
            project_name: "admin".into(),
            region_id: self.config.api.region.clone(),
            services: SERVICES.iter().map(|(t, n, p)| (t.to_string(), n.to_string(), format!("{base}{p}"))).collect(),
        };
        bootstrap(&self.identity, &params).await
    }

    pub fn router(&self) -> Router {
        let auth_state = api_core::auth::AuthLayerState {
            validator: self.identity.clone(),
            service_type: "identity",
            www_authenticate: Some(
                format!("Keystone uri=\"{}/identity\"", self.config.public_url()).parse().expect("header value"),
            ),
        };
        let service = |router: Router, name: &'static str, format: FaultFormat| {
            router
                .route_layer(from_fn_with_state(
                    MetricsLayer { metrics: self.metrics.clone(), service: name },
                    api_core::metrics::layer,
                ))
                .layer(from_fn(api_core::undecodable::layer))
                .layer(from_fn_with_state(format, render_faults))
                .layer(from_fn_with_state(
                    api_core::auth::AuthLayerState { service_type: name, ..auth_state.clone() },
                    api_core::auth::layer,
                ))
        };
        Router::new()
            .nest("/identity", service(identity::router(self.identity.clone()), "identity", FaultFormat::Keystone))
            .nest("/placement", service(placement::router(self.placement.clone()), "placement", FaultFormat::Placement))
            .nest("/image", service(image::router(self.image.clone()), "image", FaultFormat::Glance))
            .nest("/compute", service(compute::router(self.compute.clone()), "compute", FaultFormat::Nova))
            .nest("/compute-agent", service(compute::agent_router(self.compute.clone()), "compute", FaultFormat::Nova))
            .route("/healthcheck", get(healthcheck).with_state(self.db.clone()))
            .route("/metrics", get(metrics).with_state(self.metrics.clone()))
            .layer(DefaultBodyLimit::max(self.config.api.max_body_size))
            .layer(from_fn(api_core::request_id::layer))
    }

    /// Starts the background tasks (revocation sync across controllers,
    /// cut-off image uploads and imports).
    pub fn start_tasks(&mut self) {
        let compute = self.compute.clone();
        let every = Duration::from_secs((self.config.compute.workflow_lease_seconds / 3).max(1));
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = compute.engine.resume_expired().await {
                    tracing::warn!(error = %e, "cannot look for interrupted compute workflows");
                }
            }
        }));
        let images = self.image.clone();
        let every = Duration::from_secs((self.config.image.upload_lease_seconds / 2).max(1));
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = images.recover_stale_uploads().await {
                    tracing::warn!(error = %e.message, "cannot check for cut-off image uploads");
                }
                if let Err(e) = images.resume_stale_tasks().await {
                    tracing::warn!(error = %e.message, "cannot check for cut-off image imports");
                }
            }
        }));
        let id = self.identity.clone();
        let every = Duration::from_secs(self.config.identity.revocation_refresh_interval.max(1));
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                if let Err(e) = id.refresh_revocations().await {
                    tracing::warn!(error = %e, "cannot load revocation events; tokens revoked on other controllers may stay valid here until the database answers");
                }
                n += 1;
                if n.is_multiple_of(3600) {
                    if let Err(e) = id.prune_revocations().await {
                        tracing::warn!(error = %e, "cannot prune old revocation events");
                    }
                }
            }
        }));
    }

    /// Serves until `shutdown` completes, then stops the tasks and closes the database.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.start_tasks();
        let app = tower::ServiceExt::map_request(self.router(), strip_trailing_slash);
        axum::serve(listener, axum::ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(shutdown)
            .await?;
        for t in &self.tasks {
            t.abort();
        }
        self.db.close().await;
        Ok(())
    }
}

/// `/identity/v3/` and `/identity/v3` are the same resource to clients.
fn strip_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = new.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

async fn healthcheck(State(db): State<Db>) -> impl IntoResponse {
    if db.ping().await {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer")
    }
}

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.encode())
}

/// The agent `up` runs beside its controller, as configured in `[agent]`.
pub async fn local_agent(config: &Config, admin_password: &str) -> anyhow::Result<agent::Agent> {
    build_agent(config, config.public_url(), "admin", admin_password, "admin").await
}

/// An agent with the configured driver (QEMU: one host, this machine; the
/// fake one: one host per fake node), reaching the controller at
/// `controller` with these credentials.
pub async fn build_agent(
    config: &Config,
    controller: String,
    username: &str,
    password: &str,
    project: &str,
) -> anyhow::Result<agent::Agent> {
    let a = &config.agent;
    let base = if a.host.is_empty() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    } else {
        a.host.clone()
    };
    let token = agent::TokenCell::default();
    let hosts: Vec<(String, Arc<dyn virt::Driver>)> = match a.driver.as_str() {
        "fake" => {
            let count = a.fake_nodes.max(1);
            (0..count)
                .map(|i| {
                    let name = if count == 1 { base.clone() } else { format!("{base}-{i}") };
                    let d: Arc<dyn virt::Driver> = Arc::new(
                        virt::fake::FakeDriver::new(&name, 1, a.fake_vcpus, a.fake_memory_mb, a.fake_disk_gb)
                            .with_pgpus(a.fake_pgpus, a.fake_vgpus_per_pgpu),
                    );
                    (name, d)
                })
                .collect()
        }
        "qemu" => {
            let dir = if a.data_dir.is_empty() { config.data_dir.join("compute") } else { a.data_dir.clone().into() };
            let mut q = virt::qemu::QemuConfig::new(dir, &base);
            q.accel = config.compute.accel.clone();
            q.qemu_binary = a.qemu_binary.clone();
            q.image_cache_max_bytes = a.image_cache_max_gb << 30;
            q.shutdown_timeout = std::time::Duration::from_secs(a.shutdown_timeout);
            q.migration_address = a.migration_address.clone();
            let images = Arc::new(agent::GlanceImages::new(&controller, token.clone()));
            let d = virt::qemu::QemuDriver::new(q, images).await.map_err(|e| anyhow::anyhow!(e))?;
            vec![(base.clone(), Arc::new(d) as Arc<dyn virt::Driver>)]
        }
        other => anyhow::bail!("agent.driver {other:?} is not one of \"qemu\", \"fake\""),
    };
    let agent_config = agent::AgentConfig {
        controller,
        agent_id: base,
        username: username.into(),
        password: password.into(),
        project: project.into(),
        poll_wait: a.poll_wait,
        report_interval: a.report_interval,
    };
    Ok(agent::Agent::new(agent_config, hosts).with_token_cell(token))
}

/// The image quotas: unified limits of the `image` service from Identity.
struct IdentityLimits(Arc<Identity>);

impl image::quota::LimitSource for IdentityLimits {
    fn limits<'a>(&'a self, project_id: &'a str) -> image::quota::LimitFuture<'a> {
        Box::pin(async move { self.0.project_limits("image", project_id).await.map_err(|e| e.message) })
    }
}
