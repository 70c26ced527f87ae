"""security-https: the public load balancer serves HTTPS and redirects HTTP to HTTPS.

aws: every internet-facing ALB has an HTTPS listener with a certificate, and every HTTP
listener redirects to HTTPS. kubernetes: every Ingress has `tls` and does not switch the
controller's redirect off; a public Service of type LoadBalancer without port 443 serves plain
HTTP. One annotated internal (kube.INTERNAL_LB_ANNOTATIONS: AKS, GKE, AWS) has a private address
only, like the one an Application Gateway forwards to, and is not judged.
azure: the Application Gateway has an Https listener (protocol "Https") with an sslCertificate,
and the request routing rule of each Http listener has a redirectConfiguration.
gcp: every target HTTP proxy's URL map redirects to HTTPS and a target HTTPS proxy exists.
"""
from __future__ import annotations

from .common import Stack, dig, is_internal, listed, message, resource_message, show, stack_policy, unknown
from .kube import internal_load_balancer
from .topology import aws_listeners, k8s_load_balancer_services
from .types import (
    AWS_LBS,
    AWS_LISTENERS,
    AZ_APP_GATEWAY,
    GCP_TARGET_HTTP_PROXY,
    GCP_TARGET_HTTPS_PROXY,
    GCP_URL_MAP,
    K8S_INGRESS,
    K8S_SERVICE,
)

NAME = "security-https"
TOKENS = {
    **{t: ("internal", "loadBalancerType") for t in AWS_LBS},
    **{t: ("protocol", "certificateArn", "defaultActions", "loadBalancerArn") for t in AWS_LISTENERS},
    K8S_INGRESS: ("spec", "metadata"), K8S_SERVICE: ("spec", "metadata"),
    AZ_APP_GATEWAY: ("httpListeners", "requestRoutingRules", "sslCertificates"),
    GCP_TARGET_HTTP_PROXY: ("urlMap",), GCP_TARGET_HTTPS_PROXY: ("urlMap", "sslCertificates"),
    GCP_URL_MAP: ("defaultUrlRedirect",),
}
# Ingress controllers' redirect switches: (annotation, value that turns the redirect off / the default).
NGINX_REDIRECT = "nginx.ingress.kubernetes.io/ssl-redirect"
AGIC_REDIRECT = "appgw.ingress.kubernetes.io/ssl-redirect"
GKE_FRONTEND_CONFIG = "networking.gke.io/v1beta1.FrontendConfig"


def _redirects_to_https(actions) -> bool:
    return any(a.get("type") == "redirect" and (dig(a, "redirect.protocol") or "").upper() == "HTTPS"
               for a in listed(actions) if isinstance(a, dict))


def _aws(stack: Stack, report):
    for lb in stack.of_type(*AWS_LBS):
        props = stack.props[lb.urn]
        if is_internal(props) or props.get("loadBalancerType") not in (None, "application"):
            continue
        listeners = aws_listeners(stack, lb)
        https = [listener for listener in listeners if stack.props[listener.urn].get("protocol") == "HTTPS"]
        if not https:
            report(resource_message(lb.name, lb.resource_type,
                                    f"has {len(listeners)} listener(s) and none with protocol HTTPS; prod needs an "
                                    "HTTPS listener with a certificate", NAME), lb.urn)
        for listener in listeners:
            p = stack.props[listener.urn]
            if p.get("protocol") == "HTTPS" and not p.get("certificateArn"):
                report(message(listener.name, listener.resource_type, "certificateArn", None,
                               "an HTTPS listener needs a certificate (ACM ARN)", NAME), listener.urn)
            if p.get("protocol") in (None, "HTTP") and not _redirects_to_https(p.get("defaultActions")):
                kinds = [a.get("type") for a in listed(p.get("defaultActions")) if isinstance(a, dict)]
                report(message(listener.name, listener.resource_type, "defaultActions", kinds,
                               'prod needs HTTP to redirect: {type: "redirect", redirect: {protocol: "HTTPS"}}',
                               NAME, f"{show(kinds)} on protocol HTTP"), listener.urn)


def _kubernetes(stack: Stack, report):
    for ingress in stack.of_type(K8S_INGRESS):
        props = stack.props[ingress.urn]
        annotations = dig(props, "metadata.annotations") or {}
        ingress_class = dig(props, "spec.ingressClassName") or annotations.get("kubernetes.io/ingress.class") or ""
        if not listed(dig(props, "spec.tls")):
            report(message(ingress.name, ingress.resource_type, "spec.tls", None,
                           "prod needs TLS: a tls entry with the certificate's Secret and hosts", NAME), ingress.urn)
        elif annotations.get(NGINX_REDIRECT) == "false":
            report(message(ingress.name, ingress.resource_type, f"metadata.annotations[{NGINX_REDIRECT}]", "false",
                           'prod needs "true" (HTTP redirected to HTTPS)', NAME), ingress.urn)
        elif "application-gateway" in ingress_class and annotations.get(AGIC_REDIRECT) != "true":
            report(message(ingress.name, ingress.resource_type, f"metadata.annotations[{AGIC_REDIRECT}]",
                           annotations.get(AGIC_REDIRECT), 'prod needs "true" (AGIC does not redirect by default)',
                           NAME), ingress.urn)
        elif ingress_class.startswith("gce") and not annotations.get(GKE_FRONTEND_CONFIG):
            report(message(ingress.name, ingress.resource_type, f"metadata.annotations[{GKE_FRONTEND_CONFIG}]", None,
                           "prod needs a FrontendConfig with redirectToHttps enabled", NAME), ingress.urn)
    for service in k8s_load_balancer_services(stack):
        props = stack.props[service.urn]
        if internal_load_balancer(props) is not False:
            continue  # private (or not known yet): no client reaches it over the internet
        ports = [p.get("port") for p in listed(dig(props, "spec.ports")) if isinstance(p, dict)]
        if 443 not in ports and 443.0 not in ports and not any(unknown(p) for p in ports):
            report(message(service.name, service.resource_type, "spec.ports", ports,
                           "prod needs HTTPS: an Ingress with tls in front of a ClusterIP Service (or port 443 "
                           "terminating TLS)", NAME, f"{show(ports)} on a Service of type LoadBalancer"),
                   service.urn)


def _suffix(ref) -> str:
    return str(dig(ref, "id") or "").rstrip("/").rsplit("/", 1)[-1]


def _azure(stack: Stack, report):
    for gateway in stack.of_type(AZ_APP_GATEWAY):
        props = stack.props[gateway.urn]
        listeners = [item for item in listed(props.get("httpListeners")) if isinstance(item, dict)]
        if not any((item.get("protocol") or "").lower() == "https" for item in listeners):
            report(message(gateway.name, gateway.resource_type, "httpListeners[*].protocol",
                           [item.get("protocol") for item in listeners],
                           "prod needs an Https listener with a certificate", NAME), gateway.urn)
        redirecting = [r for r in listed(props.get("requestRoutingRules"))
                       if isinstance(r, dict) and r.get("redirectConfiguration")]
        redirected = {_suffix(r.get("httpListener")) for r in redirecting}
        # A listener id unknown until the update may name any listener: no false alarm in a preview.
        undecided = any(unknown(dig(r, "httpListener.id")) for r in redirecting)
        for listener in listeners:
            if (listener.get("protocol") or "").lower() == "https" and not dig(listener, "sslCertificate.id"):
                report(message(gateway.name, gateway.resource_type,
                               f"httpListeners[{listener.get('name')}].sslCertificate", None,
                               "an Https listener needs a certificate (sslCertificate.id)", NAME), gateway.urn)
            if (listener.get("protocol") or "").lower() == "http" and listener.get("name") not in redirected \
                    and not undecided:
                report(message(gateway.name, gateway.resource_type,
                               f"httpListeners[{listener.get('name')}]", "Http without a redirect",
                               "prod needs its request routing rule to use a redirectConfiguration to the Https "
                               "listener", NAME, '"Http" with no redirecting rule'), gateway.urn)


def _gcp(stack: Stack, report):
    maps = stack.of_type(GCP_URL_MAP)
    http_proxies = stack.of_type(GCP_TARGET_HTTP_PROXY)
    for proxy in http_proxies:
        url_maps = [m for m in maps if stack.references(proxy, "urlMap", m, ("id", "selfLink", "name"))]
        for url_map in url_maps:
            if dig(stack.props[url_map.urn], "defaultUrlRedirect.httpsRedirect") is not True:
                report(message(url_map.name, url_map.resource_type, "defaultUrlRedirect.httpsRedirect",
                               dig(stack.props[url_map.urn], "defaultUrlRedirect.httpsRedirect"),
                               f"the URL map of {proxy.name} (plain HTTP) must redirect to HTTPS: set true", NAME),
                       url_map.urn)
    if http_proxies and not stack.of_type(GCP_TARGET_HTTPS_PROXY):
        report(resource_message(http_proxies[0].name, http_proxies[0].resource_type,
                                "is the only kind of target proxy; prod needs a target HTTPS proxy", NAME),
               http_proxies[0].urn)


def validate(args, report):
    stack = Stack(args.resources)
    _aws(stack, report)
    _kubernetes(stack, report)
    _azure(stack, report)
    _gcp(stack, report)


POLICY = stack_policy(
    NAME,
    "The public load balancer serves HTTPS with a certificate and redirects HTTP to HTTPS.",
    validate,
    "Set load_balancer.tls_certificate and http_to_https_redirect: true in the stack file.",
)
