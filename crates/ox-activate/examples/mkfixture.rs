//! Write a small fixture toplevel (for trying `ox activate` by hand):
//! `cargo run -p ox-activate --example mkfixture STORE_DIR [variant]`.
use ox_activate::fixture::Fixture;

fn main() {
    let mut args = std::env::args().skip(1);
    let store = args.next().expect("usage: mkfixture STORE_DIR [1|2]");
    let v = args.next().unwrap_or_else(|| "1".into());
    let f = Fixture::new("demo")
        .etc("motd", &format!("generation {v}\n"))
        .etc("demo/conf", "x = 1\n")
        .unit(
            "demo.service",
            "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n",
            &["multi-user.target"],
        )
        .normal_user("alice");
    let f = if v == "2" {
        f.etc("demo/extra", "y\n").normal_user("bob")
    } else {
        f
    };
    println!(
        "{}",
        f.write(std::path::Path::new(&store))
            .expect("write fixture")
    );
}
