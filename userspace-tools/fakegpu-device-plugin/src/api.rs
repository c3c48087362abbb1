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
