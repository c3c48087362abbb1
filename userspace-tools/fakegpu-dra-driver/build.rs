// Compiles the kubelet's protos with protox (a protobuf compiler in Rust),
// so no protoc is needed, and generates the tonic services.
fn main() {
    let protos = ["proto/dra.proto", "proto/pluginregistration.proto"];
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
