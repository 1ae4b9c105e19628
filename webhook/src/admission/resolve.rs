//! Where image configurations come from: a registry (see [`crate::registry`]) or nowhere.

use k8s_openapi::api::core::v1::Pod;

use crate::admission::entrypoint::ImageConfig;

/// Looks up the ENTRYPOINT and CMD of an image for a pod (whose pull secrets may be needed).
pub trait ImageResolver: Send + Sync {
    /// The configuration of `image`, or why it could not be read.
    fn resolve(
        &self,
        image: &str,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<ImageConfig, String>> + Send;

    /// The configurations of all of a pod's `images`, in their order, looked up at once: each
    /// has the whole budget, so together they take one budget, not one per image. A resolver
    /// that reads something per pod (its pull secrets) reads it once here.
    fn resolve_all(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> impl Future<Output = Vec<Result<ImageConfig, String>>> + Send {
        futures::future::join_all(
            images
                .iter()
                .map(move |image| self.resolve(image, pod, namespace)),
        )
    }
}

/// Never looks anything up: containers without `command` are denied with a clear message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl ImageResolver for Offline {
    async fn resolve(
        &self,
        _image: &str,
        _pod: &Pod,
        _namespace: Option<&str>,
    ) -> Result<ImageConfig, String> {
        Err(
            "image lookups are off (--offline), so the image's ENTRYPOINT and CMD are unknown"
                .to_owned(),
        )
    }
}

/// A resolver or none (`--offline`): none is [`Offline`].
impl<T: ImageResolver> ImageResolver for Option<T> {
    async fn resolve(
        &self,
        image: &str,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<ImageConfig, String> {
        match self {
            Some(resolver) => resolver.resolve(image, pod, namespace).await,
            None => Offline.resolve(image, pod, namespace).await,
        }
    }

    async fn resolve_all(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        match self {
            Some(resolver) => resolver.resolve_all(images, pod, namespace).await,
            None => Offline.resolve_all(images, pod, namespace).await,
        }
    }
}

impl<T: ImageResolver> ImageResolver for &T {
    async fn resolve(
        &self,
        image: &str,
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Result<ImageConfig, String> {
        (**self).resolve(image, pod, namespace).await
    }

    async fn resolve_all(
        &self,
        images: &[String],
        pod: &Pod,
        namespace: Option<&str>,
    ) -> Vec<Result<ImageConfig, String>> {
        (**self).resolve_all(images, pod, namespace).await
    }
}
