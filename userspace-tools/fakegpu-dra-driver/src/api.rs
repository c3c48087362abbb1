//! The generated messages, servers and clients of the kubelet's protos
//! (`proto/`), compiled by build.rs with protox and tonic-prost-build.

/// The DRA plugin API (`k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin`).
pub mod dra {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("k8s.io.kubelet.pkg.apis.dra.v1");
}

/// The plugin registration API (`pluginregistration.Registration`).
pub mod registration {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("pluginregistration");
}

#[cfg(test)]
mod tests {
    //! Wire compatibility with the kubelet: the gRPC service names (they
    //! make the paths) and the field numbers of what we send and read.
    use super::dra;
    use super::registration as reg;
    use prost::Message;
    use tonic::server::NamedService;

    #[test]
    fn service_names() {
        assert_eq!(
            <dra::dra_plugin_server::DraPluginServer<()> as NamedService>::NAME,
            "k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin"
        );
        assert_eq!(
            <reg::registration_server::RegistrationServer<()> as NamedService>::NAME,
            "pluginregistration.Registration"
        );
    }

    #[test]
    fn plugin_info_fields() {
        let m = reg::PluginInfo {
            r#type: "DRAPlugin".into(),
            name: "a.b".into(),
            endpoint: "/e".into(),
            supported_versions: vec!["v1.DRAPlugin".into()],
        };
        let mut want = vec![0x0a, 9];
        want.extend(b"DRAPlugin");
        want.extend([0x12, 3]);
        want.extend(b"a.b");
        want.extend([0x1a, 2]);
        want.extend(b"/e");
        want.extend([0x22, 12]);
        want.extend(b"v1.DRAPlugin");
        assert_eq!(m.encode_to_vec(), want);
    }

    #[test]
    fn prepare_fields() {
        // Claim{namespace=1 "n", uid=2 "u", name=3 "c"} in claims = 1.
        let req = dra::NodePrepareResourcesRequest::decode(
            &[0x0a, 9, 0x0a, 1, b'n', 0x12, 1, b'u', 0x1a, 1, b'c'][..],
        )
        .unwrap();
        let c = &req.claims[0];
        assert_eq!(
            (c.namespace.as_str(), c.uid.as_str(), c.name.as_str()),
            ("n", "u", "c")
        );
        // Response: claims = 1 map entry {key=1 "u", value=2 {devices=1
        // {request_names=1 "r", pool_name=2 "p", device_name=3 "d",
        // cdi_device_ids=4 "x"}, error=2}}.
        let r = dra::NodePrepareResourcesResponse {
            claims: [(
                "u".to_string(),
                dra::NodePrepareResourceResponse {
                    devices: vec![dra::Device {
                        request_names: vec!["r".into()],
                        pool_name: "p".into(),
                        device_name: "d".into(),
                        cdi_device_ids: vec!["x".into()],
                    }],
                    error: String::new(),
                },
            )]
            .into_iter()
            .collect(),
        };
        let dev = [0x0a, 1, b'r', 0x12, 1, b'p', 0x1a, 1, b'd', 0x22, 1, b'x'];
        let mut val = vec![0x0a, dev.len() as u8];
        val.extend(dev);
        let mut entry = vec![0x0a, 1, b'u', 0x12, val.len() as u8];
        entry.extend(val);
        let mut want = vec![0x0a, entry.len() as u8];
        want.extend(entry);
        assert_eq!(r.encode_to_vec(), want);
    }
}
