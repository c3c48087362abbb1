//! The generated messages, servers and clients of the kubelet's protos
//! (`proto/`), compiled by build.rs with protox and tonic-prost-build.

/// The device plugin API (`v1beta1.Registration`, `v1beta1.DevicePlugin`).
pub mod v1beta1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("v1beta1");
}

/// The pod-resources API, List only (`v1.PodResourcesLister`).
pub mod podresources {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("v1");
}

#[cfg(test)]
mod tests {
    //! Wire compatibility with the kubelet: the gRPC service names (they
    //! make the paths) and the field numbers of what we send and read.
    use super::podresources as pr;
    use super::v1beta1 as dp;
    use prost::Message;
    use tonic::server::NamedService;

    #[test]
    fn service_names() {
        fn name<T: NamedService>(_: &T) -> &'static str {
            T::NAME
        }
        assert_eq!(
            name(&dp::registration_server::RegistrationServer::new(Reg)),
            "v1beta1.Registration"
        );
        assert_eq!(
            name(&pr::pod_resources_lister_server::PodResourcesListerServer::new(Pods)),
            "v1.PodResourcesLister"
        );
        assert_eq!(
            // The name does not depend on the service's implementation.
            <dp::device_plugin_server::DevicePluginServer<()> as NamedService>::NAME,
            "v1beta1.DevicePlugin"
        );
    }

    struct Reg;
    #[tonic::async_trait]
    impl dp::registration_server::Registration for Reg {
        async fn register(
            &self,
            _: tonic::Request<dp::RegisterRequest>,
        ) -> Result<tonic::Response<dp::Empty>, tonic::Status> {
            unimplemented!()
        }
    }
    struct Pods;
    #[tonic::async_trait]
    impl pr::pod_resources_lister_server::PodResourcesLister for Pods {
        async fn list(
            &self,
            _: tonic::Request<pr::ListPodResourcesRequest>,
        ) -> Result<tonic::Response<pr::ListPodResourcesResponse>, tonic::Status> {
            unimplemented!()
        }
    }

    #[test]
    fn register_request_fields() {
        let m = dp::RegisterRequest {
            version: "v1beta1".into(),
            endpoint: "a.sock".into(),
            resource_name: "x/y".into(),
            options: Some(dp::DevicePluginOptions {
                pre_start_required: false,
                get_preferred_allocation_available: true,
            }),
        };
        let mut want = vec![0x0a, 7];
        want.extend(b"v1beta1");
        want.extend([0x12, 6]);
        want.extend(b"a.sock");
        want.extend([0x1a, 3]);
        want.extend(b"x/y");
        want.extend([0x22, 2, 0x10, 1]); // options = 4 { get_preferred_allocation_available = 2 }
        assert_eq!(m.encode_to_vec(), want);
    }

    #[test]
    fn device_and_allocate_fields() {
        let d = dp::ListAndWatchResponse {
            devices: vec![dp::Device {
                id: "a".into(),
                health: "Healthy".into(),
                topology: Some(dp::TopologyInfo {
                    nodes: vec![dp::NumaNode { id: 1 }],
                }),
            }],
        };
        let mut want = vec![0x0a, 18, 0x0a, 1, b'a', 0x12, 7];
        want.extend(b"Healthy");
        want.extend([0x1a, 4, 0x0a, 2, 0x08, 1]);
        assert_eq!(d.encode_to_vec(), want);

        let r = dp::ContainerAllocateResponse {
            envs: [("K".to_string(), "V".to_string())].into_iter().collect(),
            mounts: vec![],
            devices: vec![dp::DeviceSpec {
                container_path: "c".into(),
                host_path: "h".into(),
                permissions: "rw".into(),
            }],
            annotations: Default::default(),
            cdi_devices: vec![dp::CdiDevice { name: "n".into() }],
        };
        let mut want = vec![0x0a, 6, 0x0a, 1, b'K', 0x12, 1, b'V']; // envs = 1 (map entry key 1, value 2)
        want.extend([0x1a, 10, 0x0a, 1, b'c', 0x12, 1, b'h', 0x1a, 2, b'r', b'w']); // devices = 3
        want.extend([0x2a, 3, 0x0a, 1, b'n']); // cdi_devices = 5
        assert_eq!(r.encode_to_vec(), want);

        // What Allocate reads: container_requests = 1 { devices_ids = 1 }.
        let req = dp::AllocateRequest::decode(&[0x0a, 3, 0x0a, 1, b'x'][..]).unwrap();
        assert_eq!(req.container_requests[0].devices_ids, ["x"]);
        // Preferred allocation: available = 1, must_include = 2, size = 3.
        let p = dp::ContainerPreferredAllocationRequest::decode(
            &[0x0a, 1, b'a', 0x12, 1, b'b', 0x18, 2][..],
        )
        .unwrap();
        assert_eq!(
            (
                p.available_device_i_ds,
                p.must_include_device_i_ds,
                p.allocation_size
            ),
            (vec!["a".into()], vec!["b".into()], 2)
        );
    }

    #[test]
    fn pod_resources_fields_and_unknown_ones_skipped() {
        // PodResources{name=1 "p", namespace=2 "n", containers=3 {name=1 "c",
        // devices=2 {resource_name=1 "r", device_ids=2 "d"}, cpu_ids=3 [5]}}
        let c = [
            0x0a, 1, b'c', 0x12, 6, 0x0a, 1, b'r', 0x12, 1, b'd', 0x18, 5,
        ];
        let mut pod = vec![0x0a, 1, b'p', 0x12, 1, b'n', 0x1a, c.len() as u8];
        pod.extend(c);
        let mut msg = vec![0x0a, pod.len() as u8];
        msg.extend(pod);
        let r = pr::ListPodResourcesResponse::decode(&msg[..]).unwrap();
        let p = &r.pod_resources[0];
        assert_eq!((p.name.as_str(), p.namespace.as_str()), ("p", "n"));
        let d = &p.containers[0].devices[0];
        assert_eq!(
            (d.resource_name.as_str(), d.device_ids.as_slice()),
            ("r", &["d".to_string()][..])
        );
    }
}
