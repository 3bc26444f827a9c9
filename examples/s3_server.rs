//! A standalone S3-protocol server for benchmarks (`benches/s3.sh`): `s3s` + `s3s-fs` serving a
//! folder on 127.0.0.1 with SigV4 credentials, the same server the tests run in-process.
//!
//! Usage: `cargo run --release --example s3_server -- ROOT PORT ACCESS_KEY SECRET_KEY`
//! (every subfolder of ROOT is a bucket). Runs until killed.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, port, access, secret] = args.as_slice() else {
        eprintln!("usage: s3_server ROOT PORT ACCESS_KEY SECRET_KEY");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let service = {
            let mut builder =
                S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).expect("root folder"));
            builder.set_auth(SimpleAuth::from_single(access.as_str(), secret.as_str()));
            builder.build()
        };
        let listener =
            tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().expect("port")))
                .await
                .expect("bind");
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}
