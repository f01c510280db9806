"""Placement end-to-end checks: the real osc-placement plugin (`openstack
resource provider ...`) and openstacksdk's placement proxy."""
import json
import uuid

V = ["--os-placement-api-version", "1.39"]


def flows(c, check):
    def p(*args, expect_fail=False):
        return c.os(*V, *args, expect_fail=expect_fail)

    def pj(*args):
        out = c.os(*V, *args, "-f", "json")
        return json.loads(out) if out.strip() else None

    tag = uuid.uuid4().hex[:8]
    root = pj("resource", "provider", "create", f"cn-{tag}")
    check(root["name"] == f"cn-{tag}" and root["generation"] == 0 and root["parent_provider_uuid"] is None,
          f"resource provider create: {root}")
    child = pj("resource", "provider", "create", f"gpu-{tag}", "--parent-provider", root["uuid"])
    check(child["parent_provider_uuid"] == root["uuid"] and child["root_provider_uuid"] == root["uuid"],
          f"resource provider create --parent-provider: {child}")
    listed = {r["uuid"] for r in pj("resource", "provider", "list")}
    check({root["uuid"], child["uuid"]} <= listed, "resource provider list")
    in_tree = {r["uuid"] for r in pj("resource", "provider", "list", "--in-tree", root["uuid"])}
    check(in_tree == {root["uuid"], child["uuid"]}, f"resource provider list --in-tree: {in_tree}")
    renamed = pj("resource", "provider", "set", root["uuid"], "--name", f"cn-{tag}-x")
    check(renamed["name"] == f"cn-{tag}-x", "resource provider set")
    check(pj("resource", "provider", "show", root["uuid"])["name"] == f"cn-{tag}-x", "resource provider show")
    yield "osc-placement: resource provider create/list/show/set, nested with --parent-provider"

    p("resource", "class", "create", f"CUSTOM_E2E_{tag.upper()}")
    classes = {r["name"] for r in pj("resource", "class", "list")}
    check({f"CUSTOM_E2E_{tag.upper()}", "VCPU", "MEMORY_MB", "VGPU"} <= classes, "resource class list")
    yield "osc-placement: resource class create/list"

    p("trait", "create", f"CUSTOM_E2E_{tag.upper()}")
    traits = {r["name"] for r in pj("trait", "list")}
    check({f"CUSTOM_E2E_{tag.upper()}", "HW_CPU_X86_AVX2", "MISC_SHARES_VIA_AGGREGATE"} <= traits, "trait list")
    p("resource", "provider", "trait", "set", root["uuid"], "--trait", f"CUSTOM_E2E_{tag.upper()}",
      "--trait", "HW_CPU_X86_AVX2")
    got = {r["name"] for r in pj("resource", "provider", "trait", "list", root["uuid"])}
    check(got == {f"CUSTOM_E2E_{tag.upper()}", "HW_CPU_X86_AVX2"}, f"resource provider trait set/list: {got}")
    yield "osc-placement: trait create/list, resource provider trait set/list"

    p("resource", "provider", "inventory", "set", root["uuid"], "--resource", "VCPU=8",
      "--resource", "VCPU:allocation_ratio=2.0", "--resource", "MEMORY_MB=4096", "--resource", "DISK_GB=100")
    p("resource", "provider", "inventory", "set", child["uuid"], "--resource", "VGPU=4")
    inv = {r["resource_class"]: r for r in pj("resource", "provider", "inventory", "list", root["uuid"])}
    check(inv["VCPU"]["total"] == 8 and inv["VCPU"]["allocation_ratio"] == 2.0 and inv["DISK_GB"]["total"] == 100,
          f"inventory set/list: {inv}")
    p("resource", "provider", "inventory", "delete", root["uuid"], "--resource-class", "DISK_GB")
    inv = {r["resource_class"] for r in pj("resource", "provider", "inventory", "list", root["uuid"])}
    check(inv == {"VCPU", "MEMORY_MB"}, f"inventory delete: {inv}")
    yield "osc-placement: inventory set/list/delete"

    agg = str(uuid.uuid4())
    gen = pj("resource", "provider", "show", root["uuid"])["generation"]
    p("resource", "provider", "aggregate", "set", root["uuid"], "--aggregate", agg, "--generation", str(gen))
    aggs = [r["uuid"] for r in pj("resource", "provider", "aggregate", "list", root["uuid"])]
    check(aggs == [agg], f"aggregate set/list: {aggs}")
    member = {r["uuid"] for r in pj("resource", "provider", "list", "--aggregate-uuid", agg)}
    check(member == {root["uuid"]}, f"resource provider list --aggregate-uuid: {member}")
    yield "osc-placement: aggregate set/list, list by aggregate"

    cands = pj("allocation", "candidate", "list", "--resource", "VCPU=2", "--resource", "MEMORY_MB=512",
               "--required", f"CUSTOM_E2E_{tag.upper()}")
    check(len(cands) == 1 and cands[0]["resource provider"] == root["uuid"], f"allocation candidate list: {cands}")
    none = pj("allocation", "candidate", "list", "--resource", "VCPU=2", "--forbidden", "HW_CPU_X86_AVX2")
    check(not any(r["resource provider"] == root["uuid"] for r in none), f"forbidden trait filters: {none}")
    gpu = pj("allocation", "candidate", "list", "--group", "1", "--resource", "VGPU=1", "--group-policy", "isolate")
    check(any(r["resource provider"] == child["uuid"] for r in gpu), f"granular candidate on the nested child: {gpu}")
    yield "osc-placement: allocation candidate list (required, forbidden, granular nested)"

    consumer = str(uuid.uuid4())
    project, user = str(uuid.uuid4()), str(uuid.uuid4())
    p("resource", "provider", "allocation", "set", consumer, "--project-id", project, "--user-id", user,
      "--consumer-type", "INSTANCE", "--allocation", f"rp={root['uuid']},VCPU=2,MEMORY_MB=512",
      "--allocation", f"rp={child['uuid']},VGPU=1")
    shown = {r["resource_provider"]: r for r in pj("resource", "provider", "allocation", "show", consumer)}
    check(shown[root["uuid"]]["resources"] == {"VCPU": 2, "MEMORY_MB": 512}
          and shown[child["uuid"]]["resources"] == {"VGPU": 1}
          and shown[root["uuid"]]["project_id"] == project, f"allocation set/show: {shown}")
    usage = {r["resource_class"]: r["usage"] for r in pj("resource", "provider", "usage", "show", root["uuid"])}
    check(usage == {"VCPU": 2, "MEMORY_MB": 512}, f"resource provider usage show: {usage}")
    total = pj("resource", "usage", "show", project)
    check(any(r["resource_class"] == "INSTANCE" and r["usage"]["VCPU"] == 2 and r["usage"]["consumer_count"] == 1
              for r in total), f"usage show by project: {total}")
    out = p("resource", "provider", "delete", root["uuid"], expect_fail=True)
    check("409" in out, f"a provider with children or allocations cannot be deleted: {out}")
    p("resource", "provider", "allocation", "unset", consumer, "--provider", child["uuid"])
    shown = {r["resource_provider"] for r in pj("resource", "provider", "allocation", "show", consumer)}
    check(shown == {root["uuid"]}, f"allocation unset --provider: {shown}")
    p("resource", "provider", "allocation", "delete", consumer)
    check(not pj("resource", "provider", "allocation", "show", consumer), "allocation delete")
    yield "osc-placement: allocation set/show/unset/delete, resource provider usage show, usage show"

    over = p("resource", "provider", "allocation", "set", str(uuid.uuid4()), "--project-id", project,
             "--user-id", user, "--consumer-type", "INSTANCE", "--allocation", f"rp={root['uuid']},VCPU=17",
             expect_fail=True)
    check("409" in over, f"an over-capacity claim is refused: {over}")
    yield "osc-placement: an over-capacity claim is a 409"

    p("resource", "provider", "delete", child["uuid"])
    p("resource", "provider", "delete", root["uuid"])
    listed = {r["uuid"] for r in pj("resource", "provider", "list")}
    check(not ({root["uuid"], child["uuid"]} & listed), "resource provider delete")
    p("trait", "delete", f"CUSTOM_E2E_{tag.upper()}")
    p("resource", "class", "delete", f"CUSTOM_E2E_{tag.upper()}")
    yield "osc-placement: resource provider, trait and resource class delete"


def sdk_flows(c, check):
    import openstack
    conn = openstack.connect(cloud="ferrostack", config_files=[c.cli_env["OS_CLIENT_CONFIG_FILE"]])
    pl = conn.placement
    tag = uuid.uuid4().hex[:8]
    rp = pl.create_resource_provider(name=f"sdk-{tag}")
    check(pl.get_resource_provider(rp.id).name == f"sdk-{tag}", "sdk resource provider create/get")
    check(any(r.id == rp.id for r in pl.resource_providers()), "sdk resource provider list")
    pl.create_resource_provider_inventory(rp, resource_class="VCPU", total=4)
    invs = {i.resource_class: i.total for i in pl.resource_provider_inventories(rp)}
    check(invs == {"VCPU": 4}, f"sdk inventories: {invs}")
    pl.delete_resource_provider_inventory(pl.get_resource_provider_inventory("VCPU", resource_provider=rp),
                                          resource_provider=rp)
    pl.delete_resource_provider(rp)
    check(pl.find_resource_provider(f"sdk-{tag}") is None, "sdk resource provider delete")
    yield "openstacksdk: placement resource providers and inventories"
