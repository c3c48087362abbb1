//! `fakegpu-device-plugin fake-kubelet ...`: the command line of the
//! kubelet stand-in ([`crate::fake_kubelet`]) for tests and trying the
//! plugin by hand. It is a subcommand of the plugin's binary rather than a
//! binary of its own, to spare the guest build a second fat-LTO link of the
//! gRPC stack. Subcommands:
//!
//!   serve --dir D --state S [--pod-resources SOCK]   until SIGTERM/SIGINT
//!   wait-registered --state S --resource R [--count N] [--timeout SECS]
//!   wait-devices --state S --resource R --health H [--timeout SECS]
//!   devices --state S --resource R
//!   options --state S --resource R
//!   allocate --dir D --state S --resource R [--pod P] ID...
//!   preferred --dir D --state S --resource R --size N [--must ID]... ID...
//!   delete-pod --state S POD

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::fake_kubelet as fk;

#[derive(Default)]
struct A {
    dir: Option<PathBuf>,
    state: Option<PathBuf>,
    pod_resources: Option<PathBuf>,
    resource: Option<String>,
    count: usize,
    timeout: f64,
    health: Option<String>,
    pod: Option<String>,
    size: i32,
    must: Vec<String>,
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Result<A, String> {
    let mut a = A {
        count: 1,
        timeout: 20.0,
        ..A::default()
    };
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let mut v = || it.next().cloned().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--dir" => a.dir = Some(v()?.into()),
            "--state" => a.state = Some(v()?.into()),
            "--pod-resources" => a.pod_resources = Some(v()?.into()),
            "--resource" => a.resource = Some(v()?),
            "--count" => a.count = v()?.parse().map_err(|_| "bad --count")?,
            "--timeout" => a.timeout = v()?.parse().map_err(|_| "bad --timeout")?,
            "--health" => a.health = Some(v()?),
            "--pod" => a.pod = Some(v()?),
            "--size" => a.size = v()?.parse().map_err(|_| "bad --size")?,
            "--must" => a.must.push(v()?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => a.rest.push(s.to_string()),
        }
    }
    Ok(a)
}

async fn run(cmd: &str, a: A) -> Result<(), String> {
    let need = |o: &Option<PathBuf>, n: &str| o.clone().ok_or(format!("{cmd} needs --{n}"));
    let state = need(&a.state, "state")?;
    let resource = || a.resource.clone().ok_or(format!("{cmd} needs --resource"));
    let timeout = Duration::from_secs_f64(a.timeout);
    match cmd {
        "serve" => {
            let dir = need(&a.dir, "dir")?;
            let k = fk::FakeKubelet::start(fk::Options {
                dir,
                state,
                pod_resources_socket: a.pod_resources,
                keep_plugin_sockets: false,
            })
            .await
            .map_err(|e| format!("cannot start: {e}"))?;
            eprintln!("fake-kubelet: serving");
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
            let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            k.stop().await;
            eprintln!("fake-kubelet: stopped");
            Ok(())
        }
        "wait-registered" => {
            let r = resource()?;
            if fk::wait_for(timeout, || fk::registrations(&state, &r) >= a.count).await {
                Ok(())
            } else {
                Err(format!(
                    "{r} registered {} times, not {} (after {}s)",
                    fk::registrations(&state, &r),
                    a.count,
                    a.timeout
                ))
            }
        }
        "wait-devices" => {
            let r = resource()?;
            let h = a.health.clone().ok_or("wait-devices needs --health")?;
            let ok = || {
                let d = fk::devices(&state, &r);
                !d.is_empty() && d.iter().all(|(_, x)| *x == h)
            };
            if fk::wait_for(timeout, ok).await {
                Ok(())
            } else {
                Err(format!(
                    "{r}: devices not all {h} after {}s: {:?}",
                    a.timeout,
                    fk::devices(&state, &r)
                ))
            }
        }
        "devices" => {
            for (id, h) in fk::devices(&state, &resource()?) {
                println!("{id} {h}");
            }
            Ok(())
        }
        "options" => {
            println!(
                "{}",
                fk::options(&state, &resource()?).ok_or("no options recorded")?
            );
            Ok(())
        }
        "allocate" => {
            let dir = need(&a.dir, "dir")?;
            let r = fk::allocate(&dir, &state, &resource()?, &a.rest, a.pod.as_deref()).await?;
            print!("{}", fk::format_response(&r));
            Ok(())
        }
        "preferred" => {
            let dir = need(&a.dir, "dir")?;
            let ids = fk::preferred(&dir, &state, &resource()?, &a.rest, &a.must, a.size).await?;
            println!("{}", ids.join(" "));
            Ok(())
        }
        "delete-pod" => {
            let pod = a.rest.first().ok_or("delete-pod needs a POD")?;
            fk::delete_pod(&state, pod).map_err(|e| e.to_string())
        }
        _ => Err(format!("unknown command '{cmd}'")),
    }
}

/// Runs `fake-kubelet ARGS` (the arguments after the subcommand's name).
pub fn main(args: &[String]) -> ExitCode {
    let Some(cmd) = args.first().cloned() else {
        eprintln!("usage: fakegpu-device-plugin fake-kubelet serve|wait-registered|wait-devices|devices|options|allocate|preferred|delete-pod ...");
        return ExitCode::from(2);
    };
    let a = match parse(&args[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fake-kubelet: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-kubelet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&cmd, a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-kubelet: {e}");
            ExitCode::FAILURE
        }
    }
}
