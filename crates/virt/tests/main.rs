//! The QEMU driver against real QEMU (TCG) and the real test guest.

mod common;
mod qemu;
