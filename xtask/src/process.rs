//! The processes the local stack starts, and how they are stopped.
//!
//! Each is started in a process group of its own (so a Ctrl-C in the terminal reaches only this
//! process, which then stops them in order) and noted in one registry. [`stop`] and [`stop_all`]
//! stop them by PID and process group: SIGTERM to the group first (cargo-lambda stops the
//! function processes it started only when asked to), a grace period, then SIGKILL to the group
//! and to every descendant noted on the way (cargo-lambda may start functions in sessions of
//! their own). A leader is never reaped before its group is killed, so its PID (the group id)
//! cannot be reused in between.
//!
//! [`stop_all`] runs at exit (`atexit`, which also covers a panic in `main`), and on SIGINT,
//! SIGTERM and SIGHUP (a handler thread stops everything, then exits with 128 + the signal).
//! Should this process die without either (SIGKILL), each child gets SIGTERM from the kernel
//! (`PR_SET_PDEATHSIG`): the thread that starts a child parks for the life of the process.
use crate::{error, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// How long a process group has to end after SIGTERM before it gets SIGKILL.
pub const GRACE: Duration = Duration::from_secs(15);

struct Managed {
    name: String,
    child: Child,
}

struct Registry {
    children: Vec<Managed>,
    /// Set by [`stop_all`]: anything started after it is stopped at once.
    stopping: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    children: Vec::new(),
    stopping: false,
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process [`spawn`] started: its PID, and its output when that was piped.
#[derive(Debug)]
pub struct Spawned {
    pub pid: u32,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// Starts `cmd` as `name` in a process group of its own, noted for [`stop_all`].
pub fn spawn(name: &str, mut cmd: Command) -> Result<Spawned> {
    install_handlers();
    cmd.process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the line above: then nobody would stop us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    // PR_SET_PDEATHSIG fires when the *thread* that forked ends, so fork from a thread that
    // lives as long as the process.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("owner-{name}"))
        .spawn(move || {
            let _sent = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        })?;
    let mut child = rx
        .recv()
        .map_err(|_| error!("{name}: the thread starting it ended"))?
        .map_err(|e| error!("cannot start {name}: {e}"))?;
    let spawned = Spawned {
        pid: child.id(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
    };
    let mut reg = registry();
    let mut managed = Managed {
        name: name.to_string(),
        child,
    };
    if reg.stopping {
        stop_managed(&mut managed, GRACE);
        return Err(error!("{name}: not started, the stack is stopping"));
    }
    reg.children.push(managed);
    Ok(spawned)
}

/// Whether the process `pid` (started by [`spawn`]) has ended, without reaping it.
pub fn has_exited(pid: u32) -> bool {
    let pid = pid as libc::pid_t;
    // SAFETY: a zeroed siginfo_t is valid; waitid writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // An error (ECHILD) means it is gone already.
    rc != 0 || unsafe { info.si_pid() } == pid
}

/// Waits until the process `pid` (started by [`spawn`]) ends, then stops what is left of its
/// group; its exit status. `None` when `pid` is not one of ours. Polls, so that a signal handled
/// meanwhile can stop everything (then this never returns: see [`stop`]).
pub fn wait(pid: u32) -> Option<ExitStatus> {
    loop {
        {
            let (mut reg, i) = position(registry(), pid);
            let i = i?;
            // Checked and stopped under the lock: `stop_all` cannot take it in between.
            if has_exited(pid) {
                let mut managed = reg.children.remove(i);
                return stop_managed(&mut managed, GRACE);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops the process `pid` (started by [`spawn`]) with its process group and descendants;
/// returns its exit status. `None` when `pid` is not one of ours.
///
/// When a signal is stopping everything and has taken `pid` already, this never returns: the
/// signal thread exits the process, with the signal's status, once everything is stopped, and
/// the caller must not race it to exit with another status.
pub fn stop(pid: u32) -> Option<ExitStatus> {
    let (mut reg, i) = position(registry(), pid);
    let mut managed = reg.children.remove(i?);
    stop_managed(&mut managed, GRACE)
}

/// Where `pid` is in the registry. When a signal has taken it (see [`stop`]), releases the lock
/// (the exit handler takes it too) and waits for the signal thread to exit the process.
fn position(
    reg: MutexGuard<'static, Registry>,
    pid: u32,
) -> (MutexGuard<'static, Registry>, Option<usize>) {
    let found = reg.children.iter().position(|m| m.child.id() == pid);
    if found.is_none() && SIGNALLED.load(Ordering::SeqCst) {
        drop(reg);
        loop {
            std::thread::park();
        }
    }
    (reg, found)
}

/// Stops everything [`spawn`] started, newest first, and anything it starts from now on.
pub fn stop_all() {
    let mut reg = registry();
    reg.stopping = true;
    let any = !reg.children.is_empty();
    while let Some(mut managed) = reg.children.pop() {
        stop_managed(&mut managed, GRACE);
    }
    if any {
        eprintln!("stack: the local stack is stopped");
    }
}

/// A process as `/proc` names it: its PID and start time (a reused PID has another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Proc {
    pid: libc::pid_t,
    start: u64,
}

/// Every live process: `Proc` → parent PID and process group.
fn processes() -> BTreeMap<Proc, (libc::pid_t, libc::pid_t)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some((start, ppid, pgrp)) = stat(pid) {
            out.insert(Proc { pid, start }, (ppid, pgrp));
        }
    }
    out
}

/// `/proc/PID/stat`: start time, parent and process group of a live (not zombie) process.
fn stat(pid: libc::pid_t) -> Option<(u64, libc::pid_t, libc::pid_t)> {
    let raw = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice num_threads itrealvalue starttime ...
    let rest: Vec<&str> = raw.get(raw.rfind(')')? + 2..)?.split(' ').collect();
    if matches!(rest.first(), Some(&"Z") | Some(&"X") | None) {
        return None;
    }
    Some((
        rest.get(19)?.parse().ok()?,
        rest.get(1)?.parse().ok()?,
        rest.get(2)?.parse().ok()?,
    ))
}

fn alive(p: Proc) -> bool {
    stat(p.pid).is_some_and(|(start, _, _)| start == p.start)
}

/// Adds to `tree` the live members of process group `leader` and all live descendants of
/// `leader`, wherever their group or session.
fn collect(leader: libc::pid_t, tree: &mut Vec<Proc>) {
    let procs = processes();
    let mut inside: Vec<libc::pid_t> = vec![leader];
    let mut changed = true;
    while changed {
        changed = false;
        for (p, (ppid, pgrp)) in &procs {
            if p.pid == leader || inside.contains(&p.pid) {
                continue;
            }
            if *pgrp == leader || inside.contains(ppid) {
                inside.push(p.pid);
                if !tree.contains(p) {
                    tree.push(*p);
                }
                changed = true;
            }
        }
    }
}

fn stop_managed(m: &mut Managed, grace: Duration) -> Option<ExitStatus> {
    let leader = m.child.id() as libc::pid_t;
    let mut tree = Vec::new();
    collect(leader, &mut tree);
    // SAFETY: plain kill(2) on our own child's group (the leader is not reaped yet, so the
    // group id is still ours), or on the child itself.
    unsafe {
        if libc::kill(-leader, libc::SIGTERM) != 0 {
            libc::kill(leader, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    loop {
        let leader_gone = has_exited(leader as u32);
        if !leader_gone {
            collect(leader, &mut tree);
        }
        tree.retain(|p| alive(*p));
        if leader_gone && tree.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "stack: {} (pid {leader}) did not stop on SIGTERM within {}s; sending SIGKILL",
                m.name,
                grace.as_secs()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above; the noted descendants are checked by start time first.
    unsafe {
        libc::kill(-leader, libc::SIGKILL);
        for p in tree.iter().filter(|p| alive(**p)) {
            libc::kill(p.pid, libc::SIGKILL);
        }
    }
    let _killed = m.child.kill();
    let status = m.child.wait().ok();
    eprintln!("stack: stopped {} (pid {leader})", m.name);
    status
}

/// Set when a signal starts stopping everything.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// The write end of the self-pipe the signal handler wakes the stopping thread through.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

extern "C" fn at_exit() {
    let _ignored = std::panic::catch_unwind(stop_all);
}

/// Once per process: [`stop_all`] at exit and on SIGINT, SIGTERM and SIGHUP.
fn install_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(at_exit) };
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            eprintln!("stack: cannot create the signal pipe; Ctrl-C will not stop the stack");
            return;
        }
        // SAFETY: the read end is ours alone from here on.
        let mut read_end = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
        let started = std::thread::Builder::new()
            .name("stack-signals".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                loop {
                    match read_end.read(&mut byte) {
                        Ok(1) => break,
                        Ok(_) => return,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => return,
                    }
                }
                let sig = i32::from(byte[0]);
                SIGNALLED.store(true, Ordering::SeqCst);
                eprintln!("\nstack: signal {sig} received; stopping the local stack");
                stop_all();
                std::process::exit(128 + sig);
            });
        if started.is_err() {
            eprintln!("stack: cannot start the signal thread; Ctrl-C will not stop the stack");
            return;
        }
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction with a handler that only calls write(2).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    });
}
