//! Browser entry point: hydrates the server-rendered page.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    // A panic's message in the console, in debug builds. The release bundle is built with
    // panics that abort at once (scripts/build.sh): no hook would ever run there.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    let base = base_path();
    // The console's pages are lazily loaded chunks: hydration waits for the page's chunk.
    leptos::mount::hydrate_lazy(move || leptos::view! { <app::App base /> });
}

/// The base path the server rendered into `<meta name="mail-settings-base">`.
fn base_path() -> String {
    use wasm_bindgen::JsCast;
    leptos::prelude::document()
        .query_selector(&format!("meta[name=\"{}\"]", app::ui::BASE_META))
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlMetaElement>().ok())
        .map(|m| m.content())
        .unwrap_or_else(|| "/ConMasManager".to_string())
}
