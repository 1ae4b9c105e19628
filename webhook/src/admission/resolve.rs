//! Where image configurations come from: a registry (see [`crate::registry`]) or nowhere.

use k8s_openapi::api::core::v1::Pod;

use crate::admission::entrypoint::ImageConfig;

/// Looks up the ENTRYPOINT and CMD of a pod's images (whose pull secrets may be needed).
pub trait ImageResolver: Send + Sync {
    /// The configurations of `images`, in their order, or why each could not be read. They
    /// are looked up at once, so together they take one budget, not one per image; what a
    /// resolver reads per pod (its pull secrets) it reads once for all of them.
    fn resolve(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> impl Future<Output = Vec<Result<ImageConfig, String>>> + Send;
}

/// Never looks anything up: containers without `command` are denied with a clear message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl ImageResolver for Offline {
    async fn resolve(
        &self,
        images: &[String],
        _pod: &Pod,
        _namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        let off =
            "image lookups are off (--offline), so the image's ENTRYPOINT and CMD are unknown";
        images.iter().map(|_| Err(off.to_owned())).collect()
    }
}

/// A resolver or none (`--offline`): none is [`Offline`].
impl<T: ImageResolver> ImageResolver for Option<T> {
    async fn resolve(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        match self {
            Some(resolver) => resolver.resolve(images, pod, namespace).await,
            None => Offline.resolve(images, pod, namespace).await,
        }
    }
}

impl<T: ImageResolver> ImageResolver for &T {
    async fn resolve(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        (**self).resolve(images, pod, namespace).await
    }
}
