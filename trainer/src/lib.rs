//! The native Glimpse tool as a library: the `glimpse` binary is a thin command-line layer over
//! these modules, and the integration tests call them directly.

pub mod backend;
pub mod caption;
pub mod plot;
pub mod pth;
pub mod torch_import;
