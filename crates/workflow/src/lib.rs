//! Durable multi-step operations (sagas): an ordered list of steps, each an
//! idempotent action paired with an undo, with the run persisted after every
//! step under a lease. A controller that dies mid-way leaves a run whose
//! lease runs out; any engine's periodic [`Engine::resume_expired`] claims it
//! (compare-and-set on the lease) and goes on: forwards when it was running,
//! backwards through the undos when it was unwinding.
//!
//! It owns the `workflow_runs` table and nothing else. It knows no service:
//! a service defines its workflows ([`Workflow`]) over its own context type
//! and registers them with an [`Engine`]; the steps do the service's work.
//!
//! Rules for steps: an action may run more than once (a run resumed after a
//! crash repeats the step it was in), so it pre-generates the ids it creates
//! (keep them in the parameters or in [`Run::set`] outputs) and treats "it is
//! already there" as success; an undo treats "it is already gone" as success.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use db::row::{get_i, get_os, get_s};
use db::{sqlx, Db, DbError, DbResult};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

pub static MIGRATIONS: &[db::MigrationSet] = &[db::MigrationSet {
    version: 9000,
    description: "workflow runs",
    sqlite: include_str!("../migrations/9000_runs.sql"),
    postgres: include_str!("../migrations/9000_runs.sql"),
}];

/// How a step failed.
#[derive(Debug, Clone)]
pub enum StepError {
    /// The operation cannot go on: undo what was done. The message is what
    /// the run records (and what a service may show its user).
    Fail(String),
    /// Something outside was not ready or not reachable; try the step again
    /// after a pause (up to [`EngineConfig::step_retries`] times, then fail).
    Retry(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Fail(m) | StepError::Retry(m) => f.write_str(m),
        }
    }
}

pub type StepResult = Result<(), StepError>;
/// A step function: `fn name(ctx: Arc<C>, run: &mut Run) -> BoxFuture<'_, StepResult>`.
pub type StepFn<C> = for<'a> fn(Arc<C>, &'a mut Run) -> BoxFuture<'a, StepResult>;

/// One step: its name (in logs and the run's record), the action, and the
/// undo of the action (none when there is nothing to take back).
pub struct Step<C> {
    pub name: &'static str,
    pub action: StepFn<C>,
    pub undo: Option<StepFn<C>>,
}

/// A kind of workflow: its name and its steps, in order.
pub struct Workflow<C: 'static> {
    pub kind: &'static str,
    pub steps: &'static [Step<C>],
}

/// The state of one run as its steps see it: the parameters it was started
/// with and the outputs earlier steps recorded.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub kind: String,
    params: Value,
    outputs: Map<String, Value>,
    /// The reason the run is unwinding, while it is.
    pub error: Option<String>,
}

impl Run {
    pub fn params<P: DeserializeOwned>(&self) -> Result<P, StepError> {
        serde_json::from_value(self.params.clone())
            .map_err(|e| StepError::Fail(format!("workflow {} has unreadable parameters: {e}", self.id)))
    }

    /// An output an earlier step recorded, if it did.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.outputs.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Records an output; it is persisted with the step that set it.
    pub fn set<T: Serialize>(&mut self, key: &str, value: T) {
        self.outputs.insert(key.to_string(), serde_json::to_value(value).unwrap_or(Value::Null));
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Going forwards; `step` is the next action to run.
    Running,
    /// Going backwards; `step` is how many undos are left (the next undo is
    /// that of step `step - 1`).
    Unwinding,
    /// Every action ran.
    Done,
    /// Every undo ran after a failure.
    Unwound,
    /// An undo kept failing; the run needs a person (the log says which).
    Stuck,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Unwinding => "unwinding",
            State::Done => "done",
            State::Unwound => "unwound",
            State::Stuck => "stuck",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "unwinding" => State::Unwinding,
            "done" => State::Done,
            "unwound" => State::Unwound,
            _ => State::Stuck,
        }
    }
}

/// A run's record, as [`Engine::status`] reads it.
#[derive(Debug, Clone)]
pub struct RunStatus {
    pub id: String,
    pub kind: String,
    pub state: State,
    pub step: i64,
    pub error: Option<String>,
    pub attempts: i64,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a run stays claimed without a renewal.
    pub lease: Duration,
    /// Retries of a step that answered [`StepError::Retry`].
    pub step_retries: u32,
    /// Pause between those retries.
    pub retry_delay: Duration,
    /// Runs taken over after their lease ran out more often than this stop
    /// going forwards and unwind.
    pub max_attempts: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease: Duration::from_secs(30),
            step_retries: 5,
            retry_delay: Duration::from_millis(500),
            max_attempts: 5,
        }
    }
}

/// Runs workflows of one service over its context `C`.
pub struct Engine<C: Send + Sync + 'static> {
    db: Db,
    ctx: std::sync::OnceLock<std::sync::Weak<C>>,
    owner: String,
    config: EngineConfig,
    kinds: HashMap<&'static str, &'static Workflow<C>>,
}

/// `FERROSTACK_FAILPOINT=workflow:<kind>:<step>` makes the process kill
/// itself (SIGKILL) right after that step's action succeeded and before the
/// run is saved — the moment a crash hurts most — so crash tests can kill a
/// controller exactly there. Read once; unset in normal operation.
fn failpoint(kind: &str, step: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let point = POINT.get_or_init(|| std::env::var("FERROSTACK_FAILPOINT").ok());
    if let Some(p) = point {
        if p.strip_prefix("workflow:").and_then(|r| r.split_once(':')) == Some((kind, step)) {
            tracing::error!(kind, step, "failpoint reached: killing the process");
            let _ = std::process::Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
            std::process::abort();
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

impl<C: Send + Sync + 'static> Engine<C> {
    pub fn new(db: Db, config: EngineConfig, workflows: &[&'static Workflow<C>]) -> Engine<C> {
        Engine {
            db,
            ctx: std::sync::OnceLock::new(),
            owner: uuid::Uuid::new_v4().to_string(),
            config,
            kinds: workflows.iter().map(|w| (w.kind, *w)).collect(),
        }
    }

    /// The context steps run with; set once, after the service that owns the
    /// engine is built (the service usually holds the engine itself, hence a
    /// weak reference: runs stop when the service is dropped).
    pub fn set_context(&self, ctx: &Arc<C>) {
        let _ = self.ctx.set(Arc::downgrade(ctx));
    }

    fn context(&self) -> Option<Arc<C>> {
        self.ctx.get().and_then(|w| w.upgrade())
    }

    /// Writes a new run, claimed by this engine, in the caller's transaction
    /// (so it exists exactly when the caller's own rows do). Drive it with
    /// [`Engine::spawn`] once the transaction has committed.
    pub async fn insert<P: Serialize>(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
        workflow: &Workflow<C>,
        params: &P,
    ) -> DbResult<()> {
        let params = serde_json::to_string(params).expect("parameters serialize");
        let now = now_text();
        sqlx::query(
            "INSERT INTO workflow_runs (id, kind, params, outputs, state, step, error, lease_owner, lease_until, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, '{}', 'running', 0, NULL, $4, $5, 0, $6, $6)",
        )
        .bind(id)
        .bind(workflow.kind)
        .bind(params)
        .bind(&self.owner)
        .bind(now_ms() + self.config.lease.as_millis() as i64)
        .bind(now)
        .execute(conn)
        .await
        .map_err(DbError::from_sqlx)?;
        Ok(())
    }

    /// Inserts a run on its own and drives it in the background.
    pub async fn start<P: Serialize>(self: &Arc<Self>, id: &str, workflow: &Workflow<C>, params: &P) -> DbResult<()> {
        let mut conn = self.db.writer().acquire().await.map_err(DbError::from_sqlx)?;
        self.insert(&mut conn, id, workflow, params).await?;
        drop(conn);
        self.spawn(id);
        Ok(())
    }

    /// Drives a run this engine holds, in the background.
    pub fn spawn(self: &Arc<Self>, id: &str) -> tokio::task::JoinHandle<Option<State>> {
        let engine = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            match engine.drive(&id).await {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(workflow_id = %id, error = %e, "workflow run could not be saved; another controller takes it over when its lease runs out");
                    None
                }
            }
        })
    }

    /// Takes over every run whose lease ran out and drives each in the
    /// background; answers how many it took.
    pub async fn resume_expired(self: &Arc<Self>) -> DbResult<usize> {
        let rows = sqlx::query(
            "SELECT id, lease_owner, lease_until, attempts, state FROM workflow_runs \
             WHERE state IN ('running', 'unwinding') AND lease_until < $1 ORDER BY created_at LIMIT 1000",
        )
        .bind(now_ms())
        .fetch_all(self.db.reader())
        .await
        .map_err(DbError::from_sqlx)?;
        let mut taken = 0;
        for r in rows {
            let id = get_s(&r, "id");
            let claimed = sqlx::query(
                "UPDATE workflow_runs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id = $4 AND lease_owner = $5 AND lease_until = $6",
            )
            .bind(&self.owner)
            .bind(now_ms() + self.config.lease.as_millis() as i64)
            .bind(now_text())
            .bind(&id)
            .bind(get_s(&r, "lease_owner"))
            .bind(get_i(&r, "lease_until"))
            .execute(self.db.writer())
            .await
            .map_err(DbError::from_sqlx)?
            .rows_affected()
                == 1;
            if claimed {
                tracing::warn!(workflow_id = %id, state = %get_s(&r, "state"), attempt = get_i(&r, "attempts") + 1, "taking over a workflow run whose lease ran out");
                self.spawn(&id);
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// The record of a run.
    pub async fn status(&self, id: &str) -> DbResult<Option<RunStatus>> {
        let row = sqlx::query("SELECT id, kind, state, step, error, attempts FROM workflow_runs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.reader())
            .await
            .map_err(DbError::from_sqlx)?;
        Ok(row.map(|r| RunStatus {
            id: get_s(&r, "id"),
            kind: get_s(&r, "kind"),
            state: State::parse(&get_s(&r, "state")),
            step: get_i(&r, "step"),
            error: get_os(&r, "error"),
            attempts: get_i(&r, "attempts"),
        }))
    }

    /// Runs in `running` or `unwinding` state (for tests and health checks).
    pub async fn active_count(&self) -> DbResult<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM workflow_runs WHERE state IN ('running', 'unwinding')")
            .fetch_one(self.db.reader())
            .await
            .map_err(DbError::from_sqlx)?;
        Ok(get_i(&r, "n"))
    }

    /// Saves where the run is, if this engine still holds it; false when it
    /// lost the run to another engine.
    async fn save(&self, run: &Run, state: State, step: usize) -> DbResult<bool> {
        let outputs = serde_json::to_string(&run.outputs).expect("outputs serialize");
        let done = matches!(state, State::Done | State::Unwound | State::Stuck);
        let r = sqlx::query(
            "UPDATE workflow_runs SET state = $1, step = $2, outputs = $3, error = $4, lease_until = $5, updated_at = $6 \
             WHERE id = $7 AND lease_owner = $8",
        )
        .bind(state.as_str())
        .bind(step as i64)
        .bind(outputs)
        .bind(run.error.as_deref())
        .bind(if done { 0 } else { now_ms() + self.config.lease.as_millis() as i64 })
        .bind(now_text())
        .bind(&run.id)
        .bind(&self.owner)
        .execute(self.db.writer())
        .await
        .map_err(DbError::from_sqlx)?;
        Ok(r.rows_affected() == 1)
    }

    async fn renew(&self, id: &str) -> DbResult<bool> {
        let r = sqlx::query("UPDATE workflow_runs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
            .bind(now_ms() + self.config.lease.as_millis() as i64)
            .bind(id)
            .bind(&self.owner)
            .execute(self.db.writer())
            .await
            .map_err(DbError::from_sqlx)?;
        Ok(r.rows_affected() == 1)
    }

    /// Runs one step function, renewing the lease while it runs. `None` when
    /// the lease was lost meanwhile (the step is dropped where it stands).
    async fn call(&self, f: StepFn<C>, ctx: &Arc<C>, run: &mut Run) -> DbResult<Option<StepResult>> {
        let every = self.config.lease / 3;
        let id = run.id.clone();
        let mut step = f(ctx.clone(), run);
        loop {
            tokio::select! {
                result = &mut step => return Ok(Some(result)),
                _ = tokio::time::sleep(every) => {
                    if !self.renew(&id).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Runs a step with its retries; `None` when the lease was lost.
    async fn attempt(&self, f: StepFn<C>, ctx: &Arc<C>, run: &mut Run, name: &str) -> DbResult<Option<StepResult>> {
        let mut tries = 0;
        loop {
            match self.call(f, ctx, run).await? {
                Some(Err(StepError::Retry(m))) if tries < self.config.step_retries => {
                    tries += 1;
                    tracing::info!(workflow_id = %run.id, step = name, error = %m, attempt = tries, "workflow step will be retried");
                    tokio::time::sleep(self.config.retry_delay).await;
                }
                Some(Err(StepError::Retry(m))) => return Ok(Some(Err(StepError::Fail(m)))),
                other => return Ok(other),
            }
        }
    }

    /// Drives a run this engine holds to its end (or until it loses it).
    pub async fn drive(&self, id: &str) -> DbResult<Option<State>> {
        let Some(r) = sqlx::query(
            "SELECT kind, params, outputs, state, step, error, attempts, lease_owner FROM workflow_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.reader())
        .await
        .map_err(DbError::from_sqlx)?
        else {
            return Ok(None);
        };
        if get_s(&r, "lease_owner") != self.owner {
            return Ok(None);
        }
        let kind = get_s(&r, "kind");
        let Some(workflow) = self.kinds.get(kind.as_str()).copied() else {
            tracing::error!(workflow_id = %id, kind = %kind, "no workflow of this kind is known to this controller; upgrade it to the release that started the run");
            return Ok(None);
        };
        let mut run = Run {
            id: id.to_string(),
            kind,
            params: serde_json::from_str(&get_s(&r, "params")).unwrap_or(Value::Null),
            outputs: serde_json::from_str(&get_s(&r, "outputs")).unwrap_or_default(),
            error: get_os(&r, "error"),
        };
        let Some(ctx) = self.context() else {
            return Ok(None);
        };
        let mut state = State::parse(&get_s(&r, "state"));
        let mut step = get_i(&r, "step").max(0) as usize;
        let steps = workflow.steps;
        let mut saved = true;
        if state == State::Running && get_i(&r, "attempts") > self.config.max_attempts {
            run.error = Some(format!("the run was interrupted {} times", get_i(&r, "attempts")));
            state = State::Unwinding;
            step = (step + 1).min(steps.len());
            if !self.save(&run, state, step).await? {
                return Ok(None);
            }
        }
        while state == State::Running {
            if step >= steps.len() {
                state = State::Done;
                saved = false;
                break;
            }
            let s = &steps[step];
            match self.attempt(s.action, &ctx, &mut run, s.name).await? {
                None => return Ok(None),
                Some(Ok(())) => {
                    failpoint(&run.kind, s.name);
                    step += 1;
                    let next = if step == steps.len() { State::Done } else { State::Running };
                    if !self.save(&run, next, step).await? {
                        return Ok(None);
                    }
                    state = next;
                }
                Some(Err(e)) => {
                    tracing::warn!(workflow_id = %run.id, kind = %run.kind, step = s.name, error = %e, "workflow step failed; undoing the steps before it");
                    run.error = Some(e.to_string());
                    // The failed action may have done part of its work; its
                    // undo runs too (undos accept "already gone").
                    step += 1;
                    state = State::Unwinding;
                    if !self.save(&run, state, step).await? {
                        return Ok(None);
                    }
                }
            }
        }
        while state == State::Unwinding {
            if step == 0 {
                state = State::Unwound;
                saved = false;
                break;
            }
            let s = &steps[step - 1];
            let Some(undo) = s.undo else {
                step -= 1;
                saved = false;
                continue;
            };
            match self.attempt(undo, &ctx, &mut run, s.name).await? {
                None => return Ok(None),
                Some(Ok(())) => {
                    step -= 1;
                    let next = if step == 0 { State::Unwound } else { State::Unwinding };
                    if !self.save(&run, next, step).await? {
                        return Ok(None);
                    }
                    state = next;
                    saved = true;
                }
                Some(Err(e)) => {
                    tracing::error!(workflow_id = %run.id, kind = %run.kind, step = s.name, error = %e, "undo of a workflow step keeps failing; the run is stuck: fix the cause, then set its state back to 'unwinding' in workflow_runs to retry");
                    run.error = Some(format!("{}; undo of {} failed: {e}", run.error.as_deref().unwrap_or(""), s.name));
                    state = State::Stuck;
                    saved = false;
                }
            }
        }
        if !saved && !self.save(&run, state, step).await? {
            return Ok(None);
        }
        Ok(Some(state))
    }
}
