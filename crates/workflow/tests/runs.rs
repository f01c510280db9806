use std::sync::{Arc, Mutex};
use std::time::Duration;

use db::sqlx;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use workflow::{Engine, EngineConfig, Run, State, Step, StepError, StepResult, Workflow};

use crate::TestDb;

/// What the test workflow's steps do to the world: a log of every action
/// and undo, and switches that make a step fail, retry or hang.
#[derive(Default)]
struct World {
    log: Mutex<Vec<String>>,
    fail_at: Mutex<Option<&'static str>>,
    retries_left: Mutex<u32>,
    hang_at: Mutex<Option<&'static str>>,
    undo_fails: Mutex<bool>,
}

impl World {
    fn record(&self, what: &str) {
        self.log.lock().unwrap().push(what.to_string());
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    async fn act(&self, step: &'static str) -> StepResult {
        if *self.hang_at.lock().unwrap() == Some(step) {
            std::future::pending::<()>().await;
        }
        {
            let mut left = self.retries_left.lock().unwrap();
            if *left > 0 && step == "reserve" {
                *left -= 1;
                return Err(StepError::Retry("not ready".into()));
            }
        }
        self.record(step);
        if *self.fail_at.lock().unwrap() == Some(step) {
            return Err(StepError::Fail(format!("{step} broke")));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Params {
    name: String,
}

fn create(w: Arc<World>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        let p: Params = run.params()?;
        w.act("create").await?;
        run.set("created", format!("thing-{}", p.name));
        Ok(())
    })
}
fn uncreate(w: Arc<World>, _run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        w.record("uncreate");
        Ok(())
    })
}
fn reserve(w: Arc<World>, run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        // Reads what the step before it recorded, across a restart too.
        let created: String = run.get("created").ok_or(StepError::Fail("no output of create".into()))?;
        w.act("reserve").await?;
        run.set("reserved", format!("{created}/slot"));
        Ok(())
    })
}
fn unreserve(w: Arc<World>, _run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        if *w.undo_fails.lock().unwrap() {
            return Err(StepError::Fail("the reservation service is gone".into()));
        }
        w.record("unreserve");
        Ok(())
    })
}
fn notify(w: Arc<World>, _run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { w.act("notify").await })
}
fn start(w: Arc<World>, _run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move { w.act("start").await })
}
fn stop(w: Arc<World>, _run: &mut Run) -> BoxFuture<'_, StepResult> {
    Box::pin(async move {
        w.record("stop");
        Ok(())
    })
}

static THING: Workflow<World> = Workflow {
    kind: "thing_create",
    steps: &[
        Step { name: "create", action: create, undo: Some(uncreate) },
        Step { name: "reserve", action: reserve, undo: Some(unreserve) },
        Step { name: "notify", action: notify, undo: None },
        Step { name: "start", action: start, undo: Some(stop) },
    ],
};

fn config(lease_ms: u64) -> EngineConfig {
    EngineConfig {
        lease: Duration::from_millis(lease_ms),
        step_retries: 3,
        retry_delay: Duration::from_millis(10),
        max_attempts: 2,
    }
}

fn engine(db: &TestDb, world: &Arc<World>, lease_ms: u64) -> Arc<Engine<World>> {
    let e = Arc::new(Engine::new(db.db.clone(), config(lease_ms), &[&THING]));
    e.set_context(world);
    e
}

async fn outputs(db: &TestDb, id: &str) -> serde_json::Value {
    let row = sqlx::query("SELECT outputs FROM workflow_runs WHERE id = $1").bind(id).fetch_one(db.db.reader()).await;
    let text: String = db::Row::get(&row.unwrap(), "outputs");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn every_step_runs_in_order_and_outputs_persist() {
    let db = TestDb::new().await;
    let world = Arc::new(World::default());
    let e = engine(&db, &world, 5000);
    e.start("run-1", &THING, &Params { name: "a".into() }).await.unwrap();
    let status = wait_end(&e, "run-1").await;
    assert_eq!(status.state, State::Done);
    assert_eq!(status.step, 4);
    assert_eq!(world.log(), ["create", "reserve", "notify", "start"]);
    let out = outputs(&db, "run-1").await;
    assert_eq!(out["created"], "thing-a");
    assert_eq!(out["reserved"], "thing-a/slot");
    assert_eq!(e.active_count().await.unwrap(), 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_failed_step_undoes_itself_and_every_step_before_it_in_reverse() {
    let db = TestDb::new().await;
    let world = Arc::new(World::default());
    *world.fail_at.lock().unwrap() = Some("start");
    let e = engine(&db, &world, 5000);
    e.start("run-2", &THING, &Params { name: "b".into() }).await.unwrap();
    let status = wait_end(&e, "run-2").await;
    assert_eq!(status.state, State::Unwound);
    assert_eq!(status.step, 0);
    assert_eq!(status.error.as_deref(), Some("start broke"));
    // notify has no undo; start's undo runs although start failed.
    assert_eq!(world.log(), ["create", "reserve", "notify", "start", "stop", "unreserve", "uncreate"]);
    db.drop_db().await;
}

#[tokio::test]
async fn a_step_asking_for_a_retry_is_retried_then_fails_when_it_keeps_asking() {
    let db = TestDb::new().await;
    let world = Arc::new(World::default());
    *world.retries_left.lock().unwrap() = 2;
    let e = engine(&db, &world, 5000);
    e.start("run-3", &THING, &Params { name: "c".into() }).await.unwrap();
    assert_eq!(wait_end(&e, "run-3").await.state, State::Done);
    assert_eq!(world.log(), ["create", "reserve", "notify", "start"]);

    let world = Arc::new(World::default());
    *world.retries_left.lock().unwrap() = 10;
    let e = engine(&db, &world, 5000);
    e.start("run-4", &THING, &Params { name: "d".into() }).await.unwrap();
    let status = wait_end(&e, "run-4").await;
    assert_eq!(status.state, State::Unwound);
    assert_eq!(status.error.as_deref(), Some("not ready"));
    assert_eq!(world.log(), ["create", "unreserve", "uncreate"]);
    db.drop_db().await;
}

#[tokio::test]
async fn a_run_whose_engine_died_is_taken_over_and_resumes_at_the_step_it_was_in() {
    let db = TestDb::new().await;
    let world_a = Arc::new(World::default());
    *world_a.hang_at.lock().unwrap() = Some("notify");
    let a = engine(&db, &world_a, 300);
    let mut conn = db.db.writer().acquire().await.unwrap();
    a.insert(&mut conn, "run-5", &THING, &Params { name: "e".into() }).await.unwrap();
    drop(conn);
    let task = a.spawn("run-5");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // While its engine lives, the hanging step keeps the lease.
    let world_b = Arc::new(World::default());
    let b = engine(&db, &world_b, 300);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.resume_expired().await.unwrap(), 0, "a live engine's run is not taken");
    assert_eq!(world_a.log(), ["create", "reserve"]);
    // The engine dies (kill -9 of the controller is tested with compute).
    task.abort();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(b.resume_expired().await.unwrap(), 1);
    let status = wait_end(&b, "run-5").await;
    assert_eq!(status.state, State::Done);
    assert_eq!(status.attempts, 1);
    // Only the step it was in and those after it ran again.
    assert_eq!(world_b.log(), ["notify", "start"]);
    assert_eq!(outputs(&db, "run-5").await["reserved"], "thing-e/slot");
    db.drop_db().await;
}

#[tokio::test]
async fn an_engine_that_lost_its_run_stops_and_writes_nothing() {
    let db = TestDb::new().await;
    let world = Arc::new(World::default());
    *world.hang_at.lock().unwrap() = Some("notify");
    let a = engine(&db, &world, 300);
    a.start("run-6", &THING, &Params { name: "f".into() }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Another controller took the run over (as after a long pause of this one).
    sqlx::query("UPDATE workflow_runs SET lease_owner = 'someone-else', lease_until = $1 WHERE id = 'run-6'")
        .bind(i64::MAX)
        .execute(db.db.writer())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    *world.hang_at.lock().unwrap() = None;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = a.status("run-6").await.unwrap().unwrap();
    assert_eq!(status.state, State::Running);
    assert_eq!(status.step, 2, "the step after the loss was not saved");
    assert_eq!(world.log(), ["create", "reserve"], "the step was dropped where it stood");
    db.drop_db().await;
}

#[tokio::test]
async fn a_run_interrupted_too_often_unwinds_and_a_failing_undo_leaves_it_stuck() {
    let db = TestDb::new().await;
    let world = Arc::new(World::default());
    let e = engine(&db, &world, 300);
    let mut conn = db.db.writer().acquire().await.unwrap();
    e.insert(&mut conn, "run-7", &THING, &Params { name: "g".into() }).await.unwrap();
    drop(conn);
    sqlx::query(
        "UPDATE workflow_runs SET step = 2, attempts = 2, lease_until = 0, outputs = '{\"created\":\"thing-g\"}' WHERE id = 'run-7'",
    )
    .execute(db.db.writer())
    .await
    .unwrap();
    assert_eq!(e.resume_expired().await.unwrap(), 1);
    let status = wait_end(&e, "run-7").await;
    assert_eq!(status.state, State::Unwound);
    assert_eq!(status.error.as_deref(), Some("the run was interrupted 3 times"));
    assert_eq!(world.log(), ["unreserve", "uncreate"], "the step it was in (notify) has no undo; those before it undo");

    let world = Arc::new(World::default());
    *world.fail_at.lock().unwrap() = Some("notify");
    *world.undo_fails.lock().unwrap() = true;
    let e = engine(&db, &world, 5000);
    e.start("run-8", &THING, &Params { name: "h".into() }).await.unwrap();
    let status = wait_end(&e, "run-8").await;
    assert_eq!(status.state, State::Stuck);
    assert_eq!(status.step, 2, "the undo of reserve is the one left");
    assert!(status.error.unwrap().contains("undo of reserve failed: the reservation service is gone"));
    assert_eq!(e.resume_expired().await.unwrap(), 0, "a stuck run waits for a person");
    db.drop_db().await;
}

async fn wait_end(e: &Engine<World>, id: &str) -> workflow::RunStatus {
    for _ in 0..500 {
        let s = e.status(id).await.unwrap().expect("run exists");
        if !matches!(s.state, State::Running | State::Unwinding) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {id} did not end");
}
