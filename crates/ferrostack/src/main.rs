use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrostack::controller::{self, Controller};
use ferrostack::Config;

#[derive(Parser)]
#[command(name = "ferrostack", version, about = "An OpenStack-compatible cloud in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the all-in-one cloud: every API on one address, SQLite in the data dir.
    Up {
        /// Data directory (default $FERROSTACK_DATA_DIR or ~/.local/share/ferrostack).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long)]
        listen: Option<String>,
        /// Configuration file (optional).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Build the test guest (as `ferrostack dev build-test-image`) and
        /// register it as the public image `tiny` when no image has that name.
        #[arg(long, env = "FERROSTACK_TEST_IMAGE")]
        test_image: bool,
    },
    /// Run a host agent: the configured driver's hosts, served to a controller.
    Agent {
        /// Base URL of a controller, e.g. http://10.0.0.1:5000.
        #[arg(long)]
        controller: String,
        /// Password of the agent's user; also read from $FERROSTACK_AGENT_PASSWORD.
        #[arg(long, env = "FERROSTACK_AGENT_PASSWORD")]
        password: String,
        /// User the agent authenticates as (admin or service role).
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long, default_value = "admin")]
        project: String,
        /// Hosts the fake driver serves (overrides agent.fake_nodes).
        #[arg(long)]
        fake_nodes: Option<usize>,
        /// Host and node name (overrides agent.host; default: this machine's name).
        #[arg(long, alias = "node-name")]
        host: Option<String>,
        /// Hypervisor driver: qemu or fake (overrides agent.driver).
        #[arg(long)]
        driver: Option<String>,
        /// Where the QEMU driver keeps instances and cached images (overrides agent.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Configuration file (optional; its [agent] and [log] sections apply).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a controller from a configuration file (multi-node, PostgreSQL).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Create the admin user, project, roles and catalog (idempotent).
    Bootstrap {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Admin password; also read from $FERROSTACK_BOOTSTRAP_PASSWORD.
        #[arg(long, env = "FERROSTACK_BOOTSTRAP_PASSWORD")]
        bootstrap_password: String,
    },
    /// Identity maintenance.
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum DevCommand {
    /// Build the tiny test guest from Debian's kernel and busybox-static:
    /// a kernel + initramfs pair and a bootable qcow2 disk.
    BuildTestImage {
        /// Directory to write tiny-vmlinuz, tiny-initrd.img and tiny.qcow2 into.
        #[arg(long, default_value = "test-image")]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or upgrade every service's tables.
    Migrate,
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Rotate the Fernet keys: the staged key becomes primary.
    FernetRotate,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the default policies in oslo.policy's YAML format.
    DumpDefaults {
        /// Only this service (e.g. identity).
        #[arg(long)]
        service: Option<String>,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROSTACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{},sqlx=warn", config.log.level)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mimalloc instead of glibc's malloc: the controller allocates and frees
/// small objects on many threads, where glibc's arenas both cost time and
/// keep freed memory resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!("ferrostack {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Dev { command: DevCommand::BuildTestImage { output } } => {
            let started = Instant::now();
            let out = output.clone();
            tokio::task::spawn_blocking(move || {
                virt::test_image::build(&out, &mut |line| println!("build-test-image: {line}"))
            })
            .await?
            .map_err(|e| anyhow::anyhow!("cannot build the test image: {e}"))?;
            println!(
                "build-test-image: wrote {} in {:.1} s",
                [virt::test_image::KERNEL, virt::test_image::INITRD, virt::test_image::DISK]
                    .map(|f| output.join(f).display().to_string())
                    .join(", "),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Policy { command: PolicyCommand::DumpDefaults { service } } => {
            let mut found = false;
            for (name, defaults) in controller::policy_defaults() {
                if service.as_deref().is_none_or(|s| s == name) {
                    found = true;
                    print!("{}", policy::dump_defaults_yaml(defaults));
                }
            }
            if !found {
                anyhow::bail!("no service {:?}; known: identity", service.unwrap_or_default());
            }
            Ok(())
        }
        Command::Db { command: DbCommand::Migrate, config } => {
            let config = Config::load(config.as_deref())?;
            init_logging(&config);
            let db = controller::connect(&config).await?;
            db.close().await;
            println!("database at {} is up to date", config.database_url());
            Ok(())
        }
        Command::Bootstrap { config, bootstrap_password } => {
            let config = Config::load(config.as_deref())?;
            init_logging(&config);
            let c = Controller::new(config).await?;
            c.bootstrap(&bootstrap_password, true).await?;
            c.db.close().await;
            println!("bootstrap complete");
            Ok(())
        }
        Command::Identity { command: IdentityCommand::FernetRotate, config } => {
            let config = Config::load(config.as_deref())?;
            let dir = config
                .identity
                .fernet_key_repository
                .clone()
                .map(PathBuf::from)
                .unwrap_or_else(|| config.data_dir.join("fernet-keys"));
            let n = identity::token::rotate(&dir, config.identity.max_active_keys)?;
            println!(
                "rotated Fernet keys in {}: key {n} is now primary; restart or reload controllers to use it",
                dir.display()
            );
            Ok(())
        }
        Command::Agent { controller, password, username, project, fake_nodes, host, driver, data_dir, config } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(n) = fake_nodes {
                config.agent.fake_nodes = n;
                config.agent.driver = "fake".into();
            }
            if let Some(h) = host {
                config.agent.host = h;
            }
            if let Some(d) = driver {
                config.agent.driver = d;
            }
            if let Some(d) = data_dir {
                config.agent.data_dir = d.to_string_lossy().to_string();
            }
            init_logging(&config);
            let agent =
                ferrostack::controller::build_agent(&config, controller, &username, &password, &project).await?;
            tracing::info!(driver = %config.agent.driver, "agent starting");
            agent.run(shutdown_signal()).await;
            Ok(())
        }
        Command::Serve { config } => {
            let config = Config::load(Some(&config))?;
            init_logging(&config);
            let listener = bind(&config.api.listen).await?;
            let c = Controller::new(config).await?;
            tracing::info!(listen = %c.config.api.listen, "controller ready");
            c.serve(listener, shutdown_signal()).await
        }
        Command::Up { data_dir, listen, config, test_image } => {
            let started = Instant::now();
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            if let Some(l) = listen {
                config.api.listen = l;
            }
            init_logging(&config);
            up(config, started, test_image).await
        }
    }
}

async fn bind(addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr}: is another ferrostack (or anything else) using it? Pick another with --listen"
        )
    })
}

async fn up(mut config: Config, started: Instant, test_image: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let listener = bind(&config.api.listen).await?;
    // With port 0 the kernel picks one; the catalog must name the real address.
    config.api.listen = listener.local_addr()?.to_string();
    let password_file = config.data_dir.join("admin-password");
    let (password, first) = match std::fs::read_to_string(&password_file) {
        Ok(p) => (p.trim().to_string(), false),
        Err(_) => {
            use base64::Engine;
            let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
            write_private(&password_file, &p)?;
            (p, true)
        }
    };
    let c = Controller::new(config).await?;
    c.bootstrap(&password, false).await?;
    if test_image {
        match c.register_test_image().await {
            Ok(Some(id)) => println!("registered the test guest as image tiny ({id})"),
            Ok(None) => {}
            // The cloud still serves; only the convenience image is missing.
            Err(e) => tracing::error!(error = format!("{e:#}"), "cannot register the test image tiny; build it by hand with `ferrostack dev build-test-image` and upload it with `openstack image create`"),
        }
    }
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    if c.config.agent.enabled {
        match ferrostack::controller::local_agent(&c.config, &password).await {
            Ok(agent) => {
                tokio::spawn(agent.run(async move {
                    let _ = agent_stopped.await;
                }));
            }
            // The cloud's APIs still serve; only this machine is not a compute host.
            Err(e) => tracing::error!(
                error = %e,
                "this machine runs no compute host: install QEMU (apt-get install qemu-system-x86 qemu-utils genisoimage), or set [agent] driver = \"fake\" or enabled = false"
            ),
        }
    }
    let clouds = c.config.data_dir.join("clouds.yaml");
    write_private(&clouds, &clouds_yaml(&c.config.public_url(), &password, &c.config.api.region))?;
    tracing::info!(
        listen = %c.config.api.listen,
        data_dir = %c.config.data_dir.display(),
        first_start = first,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ferrostack is up"
    );
    println!("ferrostack is up at {}", c.config.public_url());
    println!("export OS_CLIENT_CONFIG_FILE={}", clouds.display());
    println!("export OS_CLOUD=ferrostack");
    std::io::stdout().flush().ok();
    c.serve(listener, shutdown_signal()).await?;
    let _ = stop_agent.send(());
    tracing::info!("ferrostack stopped");
    Ok(())
}

fn clouds_yaml(public_url: &str, password: &str, region: &str) -> String {
    format!(
        "clouds:\n  ferrostack:\n    auth:\n      auth_url: {public_url}/identity\n      username: admin\n      password: {password}\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n"
    )
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
