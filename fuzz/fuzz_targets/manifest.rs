//! Fuzz target: parsing an untrusted `manifest.json` must never panic; whatever it accepts must
//! name only safe objects and survive a serialize/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runbook::host::store::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        let again = Manifest::parse(&manifest.to_bytes()).expect("what we write, we read");
        assert_eq!(again, manifest);
    }
});
