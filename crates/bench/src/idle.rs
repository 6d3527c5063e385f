//! Keeping idle cores awake for the length of a run, as latency benchmarks do.
//!
//! An idle core in a virtual machine halts, and waking a halted vCPU means an exit to the
//! hypervisor and an inter-processor interrupt: on the development VM, about 25 µs for each of
//! the four cross-core hops an adapter adds (client to adapter, adapter to upstream and back).
//! That cost belongs to the machine's power management, not to the adapter, and it is large
//! and erratic enough (the relay floor moved between +106 and +138 µs) to hide what the
//! adapters themselves cost. Writing 0 to `/dev/cpu_dma_latency` asks the kernel's PM QoS
//! layer for a wake-up latency of 0 µs, so idle cores poll instead of halting; the request
//! lasts while the file stays open and ends when this process exits, however it exits. It is
//! what `cyclictest` does by default and what tuned's `latency-performance` profile sets
//! (`force_latency`). It applies to every target alike, the direct run included.

use std::fs::File;
use std::io::Write;

const PM_QOS: &str = "/dev/cpu_dma_latency";

/// How idle cores behaved during the run, for the report's header.
pub enum IdleState {
    /// The wake-up latency request is held until this is dropped.
    Polling { _held: File },
    /// Left as the machine has it, and why.
    Default(String),
}

impl IdleState {
    /// Holds a 0 µs wake-up latency request if `poll` and the device allows it.
    pub fn acquire(poll: bool) -> IdleState {
        IdleState::acquire_at(PM_QOS, poll)
    }

    fn acquire_at(device: &str, poll: bool) -> IdleState {
        if !poll {
            return IdleState::Default("--default-idle".into());
        }
        match File::options().write(true).open(device).and_then(|mut f| {
            // The device takes the latency as a native-endian s32 in microseconds.
            f.write_all(&0i32.to_ne_bytes())?;
            Ok(f)
        }) {
            Ok(f) => IdleState::Polling { _held: f },
            Err(e) => IdleState::Default(format!("could not hold {device} at 0: {e}")),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            IdleState::Polling { .. } => format!("idle cores poll ({PM_QOS} held at 0 µs)"),
            IdleState::Default(why) => format!("idle cores as configured ({why})"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The request is the 4-byte native-endian zero the device expects, written once.
    #[test]
    fn holding_writes_a_zero_latency_request() {
        let dir = std::env::temp_dir().join(format!("pollux-idle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = dir.join("cpu_dma_latency");
        std::fs::write(&device, b"untouched").unwrap();
        let state = IdleState::acquire_at(device.to_str().unwrap(), true);
        assert!(matches!(state, IdleState::Polling { .. }));
        assert!(state.describe().starts_with("idle cores poll"));
        // Opened for writing without truncation, as the character device is.
        assert_eq!(&std::fs::read(&device).unwrap()[..4], &0i32.to_ne_bytes());
        drop(state);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_the_device_the_run_says_why() {
        let state = IdleState::acquire_at("/nonexistent/cpu_dma_latency", true);
        let IdleState::Default(why) = &state else {
            panic!("held a request on a missing device");
        };
        assert!(why.contains("/nonexistent/cpu_dma_latency"), "{why}");
        assert!(matches!(
            IdleState::acquire_at("/nonexistent", false),
            IdleState::Default(why) if why == "--default-idle"
        ));
    }
}
