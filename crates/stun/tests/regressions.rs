//! Inputs shaped like bugs other STUN servers shipped, named after them.
#![allow(clippy::unwrap_used)]

use rtc_stun::attr::Username;
use rtc_stun::{AttrType, Error, Message};

/// coturn CVE-2026-40613 crashed on attribute values at misaligned
/// addresses. This parser copies bytes out instead of casting pointers,
/// and steps over padding: an odd-length USERNAME whose padding looks
/// like the start of an XOR-MAPPED-ADDRESS yields only the USERNAME.
#[test]
fn cve_2026_40613_odd_length_attribute_padding_is_skipped() {
    let bytes = include_bytes!("data/cve-2026-40613-odd-length-attribute-padding.bin");
    let msg = Message::parse(bytes).unwrap();
    let types: Vec<AttrType> = msg.attributes().map(|a| a.attr_type).collect();
    assert_eq!(types, [AttrType::USERNAME]);
    assert_eq!(msg.attr::<Username>().unwrap().unwrap().as_str(), "abcde");
}

/// The same family of input, where the odd length's padding would run
/// past the end of the message: an error that keeps the transaction id.
#[test]
fn cve_2026_40613_odd_length_attribute_overrun_is_an_error() {
    let bytes = include_bytes!("data/cve-2026-40613-odd-length-attribute-overrun.bin");
    let err = Message::parse(bytes).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AttributeOverrun {
                attr: AttrType::XOR_MAPPED_ADDRESS,
                offset: 20,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.transaction_id().map(|t| t.as_bytes()[0]), Some(1));
}
