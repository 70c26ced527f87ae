"""Secret service settings on azure (Key Vault, AKS's CSI add-on, workload identity) and gcp (Secret Manager,
GKE's Secret Manager add-on, workload identity): issue 18 item 2.

payments-api of each prod stack gets a value (`DB_PASSWORD`, "[secret]" offline) and a reference (`STRIPE_KEY`):
the value is stored in the target's store only inside Pulumi's secret marker; each service's own identity may read
its own secrets only; the pod reads them through a SecretProviderClass volume. Exact inputs by type token (wire
names: camelCase, numbers as floats)."""
from __future__ import annotations

import json

import pytest

from components.kubernetes.args import InstanceRange, SecretStoreArgs, ServiceArgs
from components.kubernetes.secret_delivery import store_problems
from components.spec import parse_spec
from components.validation import SpecError
from tests.conftest import variant_config
from tests.test_secrets import plain_occurrences
from tests.test_secrets import secret_value as secret
from tools import check
from tools.mocks.azure import SUBSCRIPTION_ID, TENANT_ID, _guid, oidc_issuer, secret_version
from tools.mocks.gcp import PROJECT_NUMBER
from tools.offline import SECRET_PLACEHOLDER, project_keys, run_program
from tools.plan import write_manifests

AZURE_REF = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/apigw-shared/providers/Microsoft.KeyVault/vaults/"
             "apigw-payments/secrets/stripe-api-key")
GCP_REF = "projects/payments-shared/secrets/stripe-api-key/versions/3"
REFS = {"azure-prod": AZURE_REF, "gcp-prod": GCP_REF}

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
CLASS = "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"
LABELS = {"team": "platform", "cost-center": "api", "phase": "prod", "app.kubernetes.io/part-of": "apigw",
          "app": "payments-api", "component": "service", "app.kubernetes.io/managed-by": "pulumi"}
SCRATCH = {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}


def with_secrets(stack: str, ref: str | None = None, **extra) -> dict:
    def change(config):
        env = config["apigw:services"]["payments-api"]["environment"]
        env["DB_PASSWORD"] = SECRET_PLACEHOLDER
        env["STRIPE_KEY"] = {"secret_ref": ref or REFS[stack]}
        env.update(extra)
    return variant_config(stack, change)


def problems(stack: str, ref: str | None = None, **extra) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(with_secrets(stack, ref, **extra)))
    return [str(p) for p in err.value.problems]


def pod(plan, service: str = "payments-api") -> dict:
    return plan.one(DEPLOYMENT, f"apigw-{service}-deployment").inputs["spec"]["template"]


@pytest.fixture(scope="module")
def azure_plan():
    return run_program("azure-prod", with_secrets("azure-prod"))


@pytest.fixture(scope="module")
def gcp_plan():
    return run_program("gcp-prod", with_secrets("gcp-prod"))


def plan_of_stack(stack, azure_plan, gcp_plan):
    return azure_plan if stack == "azure-prod" else gcp_plan


# --- both targets ---------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["azure-prod", "gcp-prod"])
def test_the_value_appears_only_inside_the_secret_marker(stack, azure_plan, gcp_plan, tmp_path):
    plan = plan_of_stack(stack, azure_plan, gcp_plan)
    assert [(r.name, p) for r in plan.resources for p in plain_occurrences(r.inputs, SECRET_PLACEHOLDER)] == []
    marked = [r.name for r in plan.resources if SECRET_PLACEHOLDER in json.dumps(r.inputs)]
    assert marked == ["apigw-secrets-payments-api-DB_PASSWORD"]  # the store's secret (version), and nothing else
    written = write_manifests(plan, tmp_path)
    assert not any(SECRET_PLACEHOLDER in p.read_text() for p in written)  # no Kubernetes object holds it


@pytest.mark.parametrize("stack", ["azure-prod", "gcp-prod"])
def test_only_the_service_with_secrets_gets_an_account_a_class_and_a_volume(stack, azure_plan, gcp_plan):
    plan = plan_of_stack(stack, azure_plan, gcp_plan)
    assert [r.name for r in plan.by_type(ACCOUNT)] == ["apigw-payments-api-account"]
    for service in ("users-api", "locations-api"):
        spec = pod(plan, service)["spec"]
        assert "serviceAccountName" not in spec and spec["volumes"] == [SCRATCH]
        assert pod(plan, service)["metadata"]["annotations"] == {}


@pytest.mark.parametrize("stack", ["azure-prod", "gcp-prod"])
def test_the_shipped_stack_has_no_secret_resources(stack, plan_of):
    plan = plan_of(stack)
    assert not [r.name for r in plan.resources if r.type in (ACCOUNT, CLASS) or "secrets" in r.name
                or "keyvault" in r.type or "secretmanager" in r.type]


@pytest.mark.parametrize("stack", ["azure-prod", "gcp-prod"])
def test_the_policy_pack_passes_and_refuses_a_plain_password(stack):
    report = check.check_stack(stack, with_secrets(stack))
    assert (report.problems, report.mandatory) == ([], 0)
    plain = variant_config(stack, lambda c: c["apigw:services"]["payments-api"]["environment"].update(
        DB_PASSWORD="hunter2"))
    report = check.check_stack(stack, plain)
    assert report.mandatory >= 1
    assert [v.policy for v in report.violations if v.level == "mandatory"] == ["security-secret-env"]


def test_the_workloads_refuse_a_store_they_cannot_mount_or_a_variable_set_twice():
    def store(name, sync=False):
        return SecretStoreArgs(name=name, provider="gke", parameters={}, files={"DB_PASSWORD": "DB_PASSWORD"},
                               sync_secret=sync)
    service = ServiceArgs(name="payments-api", image="a/b:1", port=8080, path_prefix="/payments",
                          health_check_path="/health", instances=InstanceRange(min=1, max=2), cpu_millicores=100,
                          memory_mib=64, environment={"DB_PASSWORD_FILE": "/x"},
                          store_secrets=[store("Key_Vault"), store("key-vault", sync=True), store("key-vault")])
    assert store_problems(service) == [
        "services[payments-api].store_secrets: 'Key_Vault' is not a DNS label of at most 40 characters",
        "services[payments-api].store_secrets: 'key-vault' twice",
        "services[payments-api]: environment variable DB_PASSWORD_FILE set twice"]


# --- azure ----------------------------------------------------------------------------------

AZ_RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/apigw-prod"
VAULT = f"kv-apigw{_guid('kv-apigw')[:8]}"
IDENTITY = "apigw-secrets-payments-api"
PRINCIPAL, CLIENT = _guid(f"{IDENTITY}-principal"), _guid(f"{IDENTITY}-client")
SECRETS_USER = (f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
                "4633458b-17de-408a-b874-0445c86b69e6")
AZ_TAGS = {"cost-center": "api", "managed-by": "pulumi", "phase": "prod", "project": "apigw", "stack": "azure-prod",
           "team": "platform"}


def test_azure_stores_the_value_in_the_stacks_own_vault(azure_plan):
    vault = azure_plan.one("azure-native:keyvault:Vault", "kv-apigw").inputs
    assert vault == {"resourceGroupName": "apigw-prod", "location": "westeurope", "tags": AZ_TAGS, "properties": {
        "tenantId": TENANT_ID, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": True,
        "enableSoftDelete": True, "enablePurgeProtection": True}}
    [stored] = azure_plan.by_type("azure-native:keyvault:Secret")
    assert stored.name == "apigw-secrets-payments-api-DB_PASSWORD"
    assert {k: v for k, v in stored.inputs.items() if k != "properties"} == {
        "resourceGroupName": "apigw-prod", "vaultName": VAULT, "secretName": "payments-api-DB-PASSWORD",
        "tags": AZ_TAGS}
    assert secret(stored.inputs["properties"]) == {"value": SECRET_PLACEHOLDER}


def test_azure_each_service_identity_trusts_its_own_service_account(azure_plan):
    identities = {r.name for r in azure_plan.by_type("azure-native:managedidentity:UserAssignedIdentity")}
    assert identities == {"apigw-appgw-identity", IDENTITY}
    [credential] = azure_plan.by_type("azure-native:managedidentity:FederatedIdentityCredential")
    assert credential.inputs == {
        "resourceGroupName": "apigw-prod", "resourceName": f"{IDENTITY}{_guid(IDENTITY)[:8]}",
        "issuer": oidc_issuer("apigw-aks"), "subject": "system:serviceaccount:apigw:payments-api",
        "audiences": ["api://AzureADTokenExchange"]}
    account = azure_plan.one(ACCOUNT, "apigw-payments-api-account").inputs
    assert account == {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
                       "metadata": {"name": "payments-api", "namespace": "apigw", "labels": LABELS,
                                    "annotations": {"azure.workload.identity/client-id": CLIENT}}}


def test_azure_grants_key_vault_secrets_user_on_each_secret_only(azure_plan):
    grants = {r.name: r.inputs for r in azure_plan.by_type("azure-native:authorization:RoleAssignment")
              if r.inputs["roleDefinitionId"] == SECRETS_USER and r.inputs["principalId"] == PRINCIPAL}
    assert grants == {
        "apigw-secrets-payments-api-DB_PASSWORD": {
            "scope": f"{AZ_RG}/providers/Microsoft.KeyVault/vaults/{VAULT}/secrets/payments-api-DB-PASSWORD",
            "principalId": PRINCIPAL, "principalType": "ServicePrincipal", "roleDefinitionId": SECRETS_USER},
        "apigw-secrets-payments-api-STRIPE_KEY": {
            "scope": AZURE_REF, "principalId": PRINCIPAL, "principalType": "ServicePrincipal",
            "roleDefinitionId": SECRETS_USER}}
    # The Application Gateway's grant (its certificate's vault) is the only other Key Vault one.
    others = [r.name for r in azure_plan.by_type("azure-native:authorization:RoleAssignment")
              if r.inputs["roleDefinitionId"] == SECRETS_USER and r.name not in grants]
    assert others == ["apigw-appgw-key-vault"]


def test_azure_turns_on_the_key_vault_provider_only_with_secrets(azure_plan, plan_of):
    addons = azure_plan.one("azure-native:containerservice:ManagedCluster", "apigw-aks").inputs["addonProfiles"]
    assert addons["azureKeyvaultSecretsProvider"] == {
        "enabled": True, "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"}}
    shipped = plan_of("azure-prod").one("azure-native:containerservice:ManagedCluster", "apigw-aks").inputs
    assert "azureKeyvaultSecretsProvider" not in shipped["addonProfiles"]


def key_vault_class(store: str, vault: str, objects: str) -> dict:
    return {"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": {"name": f"payments-api-{store}", "namespace": "apigw", "labels": LABELS},
            "spec": {"provider": "azure",
                     "parameters": {"usePodIdentity": "false", "clientID": CLIENT, "tenantID": TENANT_ID,
                                    "keyvaultName": vault, "objects": objects},
                     "secretObjects": [{"secretName": f"payments-api-{store}", "type": "Opaque", "labels": LABELS,
                                        "data": [{"objectName": key, "key": key} for key in objects_keys(objects)]}]}}


def objects_keys(objects: str) -> list[str]:
    return [line.split('"')[1] for line in objects.splitlines() if "objectAlias" in line]


def test_azure_classes_name_each_vaults_secrets_pinned_to_the_written_version(azure_plan):
    version = secret_version("apigw-secrets-payments-api-DB_PASSWORD")
    assert azure_plan.one(CLASS, "apigw-payments-api-key-vault").inputs == key_vault_class(
        "key-vault", VAULT, 'array:\n  - |\n    objectName: "payments-api-DB-PASSWORD"\n    objectType: "secret"\n'
        f'    objectVersion: "{version}"\n    objectAlias: "DB_PASSWORD"\n')
    assert azure_plan.one(CLASS, "apigw-payments-api-kv-apigw-payments").inputs == key_vault_class(
        "kv-apigw-payments", "apigw-payments", 'array:\n  - |\n    objectName: "stripe-api-key"\n'
        '    objectType: "secret"\n    objectVersion: ""\n    objectAlias: "STRIPE_KEY"\n')


def test_azure_pod_reads_the_settings_from_the_synced_secrets(azure_plan):
    template = pod(azure_plan)
    spec, [container] = template["spec"], template["spec"]["containers"]
    assert template["metadata"]["annotations"] == {
        "secret-versions/key-vault": secret_version("apigw-secrets-payments-api-DB_PASSWORD")}
    assert spec["serviceAccountName"] == "payments-api" and spec["automountServiceAccountToken"] is False
    assert spec["volumes"] == [SCRATCH, *({"name": f"store-{store}", "csi": {
        "driver": "secrets-store.csi.k8s.io", "readOnly": True,
        "volumeAttributes": {"secretProviderClass": f"payments-api-{store}"}}} for store in ("key-vault",
                                                                                             "kv-apigw-payments"))]
    assert container["volumeMounts"][1:] == [
        {"name": f"store-{store}", "mountPath": f"/var/run/secrets/store/{store}", "readOnly": True}
        for store in ("key-vault", "kv-apigw-payments")]
    assert container["env"] == [
        {"name": "WHOAMI_PORT_NUMBER", "value": "8080"},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "payments-api-key-vault",
                                                               "key": "DB_PASSWORD"}}},
        {"name": "STRIPE_KEY", "valueFrom": {"secretKeyRef": {"name": "payments-api-kv-apigw-payments",
                                                              "key": "STRIPE_KEY"}}}]


@pytest.mark.parametrize("ref", [
    "https://apigw-payments.vault.azure.net/secrets/stripe-api-key",   # the secret's URI, not its resource id
    "apigw-payments/stripe-api-key",
    AZURE_REF + "/versions/0123",
])
def test_azure_refuses_a_reference_that_is_no_key_vault_secret_id(ref):
    assert problems("azure-prod", ref) == [
        f"services.payments-api.environment.STRIPE_KEY.secret_ref: found {ref!r}; allowed: a Key Vault secret's "
        "resource id: /subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/"
        "<vault>/secrets/<name> (a vault with Azure RBAC, in the stack's tenant; the service reads the latest "
        "version)"]


def test_azure_refuses_two_values_that_would_be_one_key_vault_secret():
    def change(config):
        services = config["apigw:services"]
        services["payments-api"]["environment"]["DB_PASSWORD"] = SECRET_PLACEHOLDER
        services["payments"] = {**services["locations-api"], "path_prefix": "/pay",
                                "environment": {"API_DB_PASSWORD": SECRET_PLACEHOLDER}}
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(variant_config("azure-prod", change)))
    assert [str(p) for p in err.value.problems] == [
        "services.payments-api.environment.DB_PASSWORD: found 'DB_PASSWORD'; allowed: a name apart from "
        "services.payments.environment.API_DB_PASSWORD: both would be the Key Vault secret payments-api-DB-PASSWORD"]


# --- gcp ------------------------------------------------------------------------------------

GCP_PROJECT = "my-platform-prod"
SECRET_ID = "apigw-gcp-prod-payments-api-DB_PASSWORD"
MEMBER = (f"principal://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
          f"{GCP_PROJECT}.svc.id.goog/subject/ns/apigw/sa/payments-api")


def test_gcp_stores_the_value_in_secret_manager(gcp_plan):
    [stored] = gcp_plan.by_type("gcp:secretmanager/secret:Secret")
    assert (stored.name, stored.inputs) == ("apigw-secrets-payments-api-DB_PASSWORD", {
        "project": GCP_PROJECT, "secretId": SECRET_ID, "replication": {"auto": {}}})
    [version] = gcp_plan.by_type("gcp:secretmanager/secretVersion:SecretVersion")
    assert {k: v for k, v in version.inputs.items() if k != "secretData"} == {
        "secret": f"projects/{GCP_PROJECT}/secrets/{SECRET_ID}"}
    assert secret(version.inputs["secretData"]) == SECRET_PLACEHOLDER


def test_gcp_grants_the_services_own_account_each_of_its_secrets_only(gcp_plan):
    grants = {r.name: r.inputs for r in gcp_plan.by_type("gcp:secretmanager/secretIamMember:SecretIamMember")}
    assert grants == {
        "apigw-secrets-payments-api-DB_PASSWORD": {"project": GCP_PROJECT, "secretId": SECRET_ID,
                                                   "role": "roles/secretmanager.secretAccessor", "member": MEMBER},
        "apigw-secrets-payments-api-STRIPE_KEY": {"project": "payments-shared", "secretId": "stripe-api-key",
                                                  "role": "roles/secretmanager.secretAccessor", "member": MEMBER}}
    assert not [r for r in gcp_plan.by_type("gcp:projects/iAMMember:IAMMember") if "secretmanager" in r.inputs["role"]]
    account = gcp_plan.one(ACCOUNT, "apigw-payments-api-account").inputs
    assert account == {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
                       "metadata": {"name": "payments-api", "namespace": "apigw", "labels": LABELS}}


def test_gcp_turns_on_the_secret_manager_add_on_only_with_secrets(gcp_plan, plan_of):
    assert gcp_plan.one("gcp:container/cluster:Cluster", "apigw-gke").inputs["secretManagerConfig"] == {
        "enabled": True}
    assert "secretManagerConfig" not in plan_of("gcp-prod").one("gcp:container/cluster:Cluster", "apigw-gke").inputs


def test_gcp_class_mounts_the_written_version_and_the_referenced_one(gcp_plan):
    pinned = f"projects/{PROJECT_NUMBER}/secrets/{SECRET_ID}/versions/"
    spc = gcp_plan.one(CLASS, "apigw-payments-api-secret-manager").inputs
    version = spc["spec"]["parameters"]["secrets"].split(pinned, 1)[1].split("\n", 1)[0]
    assert spc == {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
        "metadata": {"name": "payments-api-secret-manager", "namespace": "apigw", "labels": LABELS},
        "spec": {"provider": "gke", "parameters": {"secrets": (
            f"- resourceName: {pinned}{version}\n  path: DB_PASSWORD\n"
            f"- resourceName: {GCP_REF}\n  path: STRIPE_KEY\n")}}}
    assert pod(gcp_plan)["metadata"]["annotations"] == {"secret-versions/secret-manager": f"{pinned}{version}"}


def test_gcp_pod_reads_each_setting_from_the_file_its_file_variable_names(gcp_plan):
    spec = pod(gcp_plan)["spec"]
    [container] = spec["containers"]
    assert spec["serviceAccountName"] == "payments-api" and spec["automountServiceAccountToken"] is False
    assert spec["volumes"] == [SCRATCH, {"name": "store-secret-manager", "csi": {
        "driver": "secrets-store-gke.csi.k8s.io", "readOnly": True,
        "volumeAttributes": {"secretProviderClass": "payments-api-secret-manager"}}}]
    assert container["volumeMounts"][1:] == [{"name": "store-secret-manager", "readOnly": True,
                                              "mountPath": "/var/run/secrets/store/secret-manager"}]
    assert container["env"] == [
        {"name": "WHOAMI_PORT_NUMBER", "value": "8080"},
        {"name": "DB_PASSWORD_FILE", "value": "/var/run/secrets/store/secret-manager/DB_PASSWORD"},
        {"name": "STRIPE_KEY_FILE", "value": "/var/run/secrets/store/secret-manager/STRIPE_KEY"}]


@pytest.mark.parametrize("ref", [
    "stripe-api-key",
    "projects/payments-shared/secrets/stripe-api-key/versions/0",
    "projects/payments-shared/locations/europe-west1/secrets/stripe-api-key",   # a regional secret
    "projects/p/secrets/stripe-api-key",
])
def test_gcp_refuses_a_reference_that_is_no_secret_manager_secret(ref):
    assert problems("gcp-prod", ref) == [
        f"services.payments-api.environment.STRIPE_KEY.secret_ref: found {ref!r}; allowed: a Secret Manager "
        "secret: projects/<project id or number>/secrets/<name>, optionally /versions/<number or latest> "
        "(default latest; a global secret)"]


def test_gcp_accepts_a_project_number_and_the_latest_version():
    spec = parse_spec(project_keys(with_secrets("gcp-prod", "projects/123456/secrets/stripe_key/versions/latest")))
    [payments] = [s for s in spec.services if s.name == "payments-api"]
    assert payments.secrets["STRIPE_KEY"].ref == "projects/123456/secrets/stripe_key/versions/latest"


def test_gcp_refuses_a_setting_named_like_a_secrets_file_variable():
    assert problems("gcp-prod", DB_PASSWORD_FILE="/etc/password") == [
        "services.payments-api.environment.DB_PASSWORD_FILE: found '/etc/password'; allowed: unset: on gcp the "
        "service reads DB_PASSWORD from the file that DB_PASSWORD_FILE names (GKE's Secret Manager add-on writes "
        "files only)"]
