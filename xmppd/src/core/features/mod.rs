//! XEP features served by the core, one module each.

pub(crate) mod blocking;
pub(crate) mod carbons;
pub(crate) mod csi;
pub(crate) mod disco;
pub(crate) mod extdisco;
pub(crate) mod mam;
pub(crate) mod ping;
pub(crate) mod private;
pub(crate) mod push;
pub(crate) mod time;
pub(crate) mod vcard;
pub(crate) mod version;
