// Compiles the kubelet's pod-resources proto with protox (a protobuf
// compiler in Rust, so no protoc is needed) and generates the tonic client
// (the exporter's) and server (the tests' fake kubelet).
fn main() {
    let protos = ["proto/podresources.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"]).expect("compiling the protos");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)
        .expect("generating the gRPC code");
}
