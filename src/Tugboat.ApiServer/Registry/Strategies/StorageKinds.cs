using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>Persistent volumes and claims (core/v1) and the storage.k8s.io/v1 kinds.</summary>
internal static class StorageKinds
{
    private static readonly string[] AccessModes = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"];

    public static IEnumerable<ResourceType> All() =>
    [
        new() { Group = "", Version = "v1", Kind = "PersistentVolume", Plural = "persistentvolumes", Namespaced = false, ShortNames = ["pv"], HasStatus = true, Strategy = PersistentVolumes() },
        new() { Group = "", Version = "v1", Kind = "PersistentVolumeClaim", Plural = "persistentvolumeclaims", Namespaced = true, ShortNames = ["pvc"], HasStatus = true, Strategy = PersistentVolumeClaims() },
        new() { Group = "storage.k8s.io", Version = "v1", Kind = "StorageClass", Plural = "storageclasses", Namespaced = false, ShortNames = ["sc"], Strategy = StorageClasses() },
        new() { Group = "storage.k8s.io", Version = "v1", Kind = "CSIDriver", Plural = "csidrivers", Namespaced = false, Strategy = CsiDrivers() },
    ];

    private static TableStrategy PersistentVolumes() => new(
    [
        Column.Name_(),
        Column.Text("Capacity", "The capacity of the volume.", o => o.Str("spec", "capacity", "storage") ?? string.Empty),
        Column.Text("Access Modes", "The access modes of the volume.", o => Modes(o.Arr("spec", "accessModes"))),
        Column.Text("Reclaim Policy", "What happens to a persistent volume when released from its claim.", o => o.Str("spec", "persistentVolumeReclaimPolicy") ?? string.Empty),
        Column.Text("Status", "The phase of the volume.", o => o.Str("status", "phase") ?? string.Empty),
        Column.Text("Claim", "The claim bound to the volume.", o => o.Str("spec", "claimRef", "name") is { } n ? o.Str("spec", "claimRef", "namespace") + "/" + n : string.Empty),
        Column.Text("StorageClass", "The storage class of the volume.", o => o.Str("spec", "storageClassName") ?? string.Empty),
        Column.Text("VolumeAttributesClass", "The volume attributes class of the volume.", o => o.Str("spec", "volumeAttributesClassName") ?? "<unset>"),
        Column.Text("Reason", "Why the volume is in its phase.", o => o.Str("status", "reason") ?? string.Empty),
        Column.Age(),
        Column.Text("VolumeMode", "Whether the volume is a filesystem or a raw block device.", o => o.Str("spec", "volumeMode") ?? string.Empty, 1),
    ])
    {
        InitialStatus = () => new JsonObject { ["phase"] = "Pending" },
        Defaults = o =>
        {
            var spec = o.Ensure("spec");
            spec.Default("persistentVolumeReclaimPolicy", "Retain");
            spec.Default("volumeMode", "Filesystem");
        },
        Validation = (o, errors) =>
        {
            TableStrategy.Require(o, errors, "spec.capacity", "spec.accessModes");
            ValidateModes(o.Arr("spec", "accessModes"), "spec.accessModes", errors);
        },
    };

    private static TableStrategy PersistentVolumeClaims() => new(
    [
        Column.Name_(),
        Column.Text("Status", "The phase of the claim.", o => o.Str("status", "phase") ?? string.Empty),
        Column.Text("Volume", "The volume bound to the claim.", o => o.Str("spec", "volumeName") ?? string.Empty),
        Column.Text("Capacity", "The capacity of the bound volume.", o => o.Str("status", "capacity", "storage") ?? string.Empty),
        Column.Text("Access Modes", "The access modes of the bound volume.", o => Modes(o.Arr("status", "accessModes"))),
        Column.Text("StorageClass", "The storage class of the claim.", o => o.Str("spec", "storageClassName") ?? string.Empty),
        Column.Text("VolumeAttributesClass", "The volume attributes class of the claim.", o => o.Str("spec", "volumeAttributesClassName") ?? "<unset>"),
        Column.Age(),
        Column.Text("VolumeMode", "Whether the volume is a filesystem or a raw block device.", o => o.Str("spec", "volumeMode") ?? string.Empty, 1),
    ])
    {
        InitialStatus = () => new JsonObject { ["phase"] = "Pending" },
        Defaults = o => o.Ensure("spec").Default("volumeMode", "Filesystem"),
        Validation = (o, errors) =>
        {
            TableStrategy.Require(o, errors, "spec.accessModes", "spec.resources.requests.storage");
            ValidateModes(o.Arr("spec", "accessModes"), "spec.accessModes", errors);
        },
        Immutable = ["spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeMode"],
    };

    private static TableStrategy StorageClasses() => new(
    [
        Column.Text("Name", "The name of the storage class; the default class is marked.", o => o.Str("metadata", "name") + (IsDefault(o) ? " (default)" : string.Empty)),
        Column.Text("Provisioner", "The provisioner of the class.", o => o.Str("provisioner") ?? string.Empty),
        Column.Text("ReclaimPolicy", "What happens to volumes of the class when released.", o => o.Str("reclaimPolicy") ?? string.Empty),
        Column.Text("VolumeBindingMode", "When volumes of the class are bound.", o => o.Str("volumeBindingMode") ?? string.Empty),
        Column.Text("AllowVolumeExpansion", "Whether volumes of the class can grow.", o => (o.Bool("allowVolumeExpansion") ?? false) ? "true" : "false"),
        Column.Age(),
    ])
    {
        Defaults = o =>
        {
            o.Default("reclaimPolicy", "Delete");
            o.Default("volumeBindingMode", "Immediate");
        },
        Validation = (o, errors) => TableStrategy.Require(o, errors, "provisioner"),
        Immutable = ["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"],
    };

    private static TableStrategy CsiDrivers() => new(
    [
        Column.Name_(),
        Column.Text("AttachRequired", "Whether the driver needs an attach operation.", o => Flag(o, "attachRequired")),
        Column.Text("PodInfoOnMount", "Whether the driver receives pod information on mount.", o => Flag(o, "podInfoOnMount")),
        Column.Text("StorageCapacity", "Whether the driver reports storage capacity.", o => Flag(o, "storageCapacity")),
        Column.Text("TokenRequests", "Service account tokens the driver receives.", o => string.Join(",", o.Arr("spec", "tokenRequests").Objects().Select(t => t.Str("audience") ?? string.Empty)) is { Length: > 0 } s ? s : Cells.None),
        Column.Text("RequiresRepublish", "Whether volumes are republished periodically.", o => Flag(o, "requiresRepublish")),
        Column.Text("Modes", "The volume lifecycle modes of the driver.", o => string.Join(",", o.Arr("spec", "volumeLifecycleModes")?.Select(m => m?.GetValue<string>()) ?? [])),
        Column.Age(),
    ])
    {
        Defaults = o =>
        {
            var spec = o.Ensure("spec");
            spec.Default("attachRequired", true);
            spec.Default("podInfoOnMount", false);
            spec.Default("storageCapacity", false);
            spec.Default("requiresRepublish", false);
            spec.Default("fsGroupPolicy", "ReadWriteOnceWithFSType");
            spec.Default("seLinuxMount", false);
            spec.Default("volumeLifecycleModes", new JsonArray("Persistent"));
        },
        Immutable = ["spec.attachRequired", "spec.podInfoOnMount", "spec.volumeLifecycleModes"],
    };

    private static string Flag(JsonObject o, string field) => (o.Bool("spec", field) ?? false) ? "true" : "false";

    private static bool IsDefault(JsonObject o) =>
        o.Str("metadata", "annotations", "storageclass.kubernetes.io/is-default-class") == "true" ||
        o.Str("metadata", "annotations", "storageclass.beta.kubernetes.io/is-default-class") == "true";

    private static string Modes(JsonArray? modes)
    {
        var shortNames = modes?.Select(m => m?.GetValue<string>() switch
        {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            var other => other,
        }).ToList() ?? [];
        return string.Join(",", shortNames);
    }

    private static void ValidateModes(JsonArray? modes, string path, List<FieldError> errors)
    {
        for (var i = 0; i < (modes?.Count ?? 0); i++)
        {
            var mode = modes![i]?.GetValue<string>();
            if (!AccessModes.Contains(mode))
            {
                errors.Add(FieldError.NotSupported($"{path}[{i}]", mode, AccessModes));
            }
        }
    }
}
