//! What `/proc` says about processes (start time, process group), and ending the leftovers of a killed forja.
//!
//! A PID alone does not name a process: it is reused. A PID with its start time (field 22 of `/proc/PID/stat`,
//! clock ticks since boot) and the boot id does, which is what the output lock records ([`crate::artifact`]).
//! Tools run in process groups of their own ([`crate::exec`]); a group id cannot be reused while any member is
//! alive, so the members of a recorded group whose leader is gone, or whose leader is the recorded one, are what
//! a killed forja left behind.

use std::fmt;

/// A process as the lock records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub pid: u32,
    /// Start time in clock ticks since boot.
    pub start: u64,
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.pid, self.start)
    }
}

/// What forja needs from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: u32,
    pub start: u64,
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so the fields are counted after the last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let (head, rest) = line.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    // After the command: state (3), ppid (4), pgrp (5), ... starttime (22).
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// The stat of a running process, if it exists (a zombie still has one).
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// This process's stamp.
pub fn me() -> Stamp {
    let pid = std::process::id();
    Stamp {
        pid,
        start: stat(pid).map_or(0, |s| s.start),
    }
}

/// The stamp of `pid` now, if it runs.
pub fn stamp(pid: u32) -> Option<Stamp> {
    stat(pid).map(|s| Stamp {
        pid,
        start: s.start,
    })
}

/// Whether the process `s` names is still the one running under that PID.
pub fn alive(s: Stamp) -> bool {
    stamp(s.pid).is_some_and(|now| now.start == s.start)
}

/// This boot's id (processes of another boot are all gone).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Every process's stat.
pub fn all() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

/// The members of the process group a killed forja started with leader `leader`: none if the group id now
/// belongs to another leader (the recorded one gone, a new one under the same PID).
pub fn leftovers(leader: Stamp) -> Vec<Stat> {
    if let Some(now) = stamp(leader.pid)
        && now.start != leader.start
        && stat(leader.pid).is_some_and(|s| s.pgrp == leader.pid)
    {
        return Vec::new();
    }
    all()
        .into_iter()
        .filter(|s| s.pgrp == leader.pid && s.start >= leader.start && s.pid != std::process::id())
        .collect()
}

/// Ends (SIGKILL) what is left of the group `leader` led; returns how many processes were signalled.
pub fn end_leftovers(leader: Stamp) -> usize {
    let mut n = 0;
    for s in leftovers(leader) {
        if let Some(pid) = rustix::process::Pid::from_raw(s.pid as i32)
            && rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok()
        {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                pid: 4242,
                ppid: 1,
                pgrp: 4242,
                start: 98765
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = me();
        assert!(me.start > 0);
        assert!(alive(me));
        assert!(!alive(Stamp {
            pid: me.pid,
            start: me.start + 1
        }));
        assert!(!boot_id().is_empty());
    }

    #[test]
    fn the_leftovers_of_a_group_are_ended() {
        use std::os::unix::process::CommandExt;
        // A group leader that starts a child and dies: the child is what a killed tool leaves behind.
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 60 & echo $!"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let leader = stamp(sh.id()).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(sh.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        sh.wait().unwrap();
        let sleeper: u32 = line.trim().parse().unwrap();
        assert!(leftovers(leader).iter().any(|s| s.pid == sleeper));
        assert_eq!(end_leftovers(leader), 1);
        for _ in 0..100 {
            if stat(sleeper).is_none_or(|_| {
                std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
                    .is_ok_and(|t| t.contains(") Z"))
            }) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("the leftover sleep is still running");
    }
}
