//! Browser entry point: hydrates the server-rendered page.

use wasm_bindgen::prelude::wasm_bindgen;

// The islands' exported functions live in `app`: link it whole.
extern crate app;

#[wasm_bindgen]
pub fn hydrate() {
    // A panic's message in the console, in debug builds. The release bundle is built with
    // panics that abort at once (scripts/build.sh): no hook would ever run there.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    // Islands: the page's script then hydrates each `<leptos-island>` with its exported
    // function (app::ui::shell).
    leptos::mount::hydrate_islands();
}
