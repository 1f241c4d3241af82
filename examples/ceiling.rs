//! The ceiling for HTTP benchmarks: the least an actix-web estimate endpoint can do.
//! It reads the body, parses it as JSON (the same serde_json as Levy), and answers a
//! canned response of the same size as Levy's: no auth, no computation, no storage.
//!
//! `cargo run --release --example ceiling -- ADDR RESPONSE.json [WORKERS]` prints the bound
//! address; WORKERS defaults to one per core, as Levy's does.

use actix_web::{web, App, HttpResponse, HttpServer};

// The same allocator as the levy binary, so the ratio compares like with like.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn estimate(body: web::Bytes, canned: web::Data<web::Bytes>) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => HttpResponse::Ok()
            .content_type("application/json")
            .body(canned.get_ref().clone()),
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let canned = match args.next() {
        Some(path) => std::fs::read(path)?,
        None => br#"{"id":"ceiling","documents":[]}"#.to_vec(),
    };
    let canned = web::Data::new(web::Bytes::from(canned));
    let workers = match args.next() {
        Some(n) => n.parse().expect("WORKERS is a number"),
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind(&addr)?;
        println!("ceiling: listening on http://{}", listener.local_addr()?);
        HttpServer::new(move || {
            App::new()
                .app_data(canned.clone())
                .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                .route("/estimate", web::post().to(estimate))
        })
        .workers(workers)
        .listen(listener)?
        .run()
        .await
    })
}
