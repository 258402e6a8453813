using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;

namespace MassTransit.Patterns.Packaging.Tests;

/// <summary>
/// What a user gets from each packed package: the MassTransit range, IntelliSense docs, its own README, the project's
/// URLs and tags, symbols with SourceLink, and no path of the machine that built it.
/// </summary>
public sealed class PackageContentsTests
{
    const string Tfm = "net10.0";

    /// <summary>The SourceLink custom debug information kind (Portable PDB specification).</summary>
    static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    /// <summary>The MassTransit packages each of ours depends on directly (our own packages excluded).</summary>
    static readonly Dictionary<string, string[]> DirectMassTransitDependency = new()
    {
        ["MassTransit.Patterns"] = ["MassTransit"],
        ["MassTransit.Patterns.RabbitMQ"] = ["MassTransit.RabbitMQ"],
        ["MassTransit.Patterns.EntityFrameworkCore"] = [],
        ["MassTransit.Patterns.AzureServiceBus"] = [],
        ["MassTransit.Patterns.Dashboard"] = [],
    };

    static readonly Dictionary<string, string> TransportTag = new()
    {
        ["MassTransit.Patterns"] = "patterns",
        ["MassTransit.Patterns.RabbitMQ"] = "RabbitMQ",
        ["MassTransit.Patterns.EntityFrameworkCore"] = "EntityFrameworkCore",
        ["MassTransit.Patterns.AzureServiceBus"] = "AzureServiceBus",
        ["MassTransit.Patterns.Dashboard"] = "Dashboard",
    };

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void Every_MassTransit_dependency_is_constrained_to_8_5_12_up_to_but_not_9(string id)
    {
        using var package = ZipFile.OpenRead(PackedPackages.PathOf(id));
        var dependencies = PackedPackages.Metadata(package, id).Child("dependencies")!
            .Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => (Id: (string)e.Attribute("id")!, Range: (string)e.Attribute("version")!))
            .ToList();

        var massTransit = dependencies.Where(d => d.Id.StartsWith("MassTransit", StringComparison.Ordinal)
            && !d.Id.StartsWith("MassTransit.Patterns", StringComparison.Ordinal)).ToList();
        foreach (var expected in DirectMassTransitDependency[id])
            Assert.Contains(massTransit, d => d.Id == expected);

        // NuGet writes the range [8.5.12, 9.0) in its normalized form.
        Assert.All(massTransit, d => Assert.True(d.Range == "[8.5.12, 9.0.0)", $"{id} depends on {d.Id} {d.Range}, expected [8.5.12, 9.0.0)"));

        // Our own packages depend on the core of the same version.
        Assert.All(dependencies.Where(d => d.Id.StartsWith("MassTransit.Patterns", StringComparison.Ordinal)),
            d => Assert.Equal(PackedPackages.Version, d.Range));
    }

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void The_XML_documentation_file_is_packed_beside_the_assembly(string id)
    {
        using var package = ZipFile.OpenRead(PackedPackages.PathOf(id));
        PackedPackages.Read(package, $"lib/{Tfm}/{id}.dll");
        var docs = XDocument.Load(new MemoryStream(PackedPackages.Read(package, $"lib/{Tfm}/{id}.xml")));

        Assert.Equal(id, docs.Root!.Element("assembly")!.Element("name")!.Value);
        var members = docs.Root.Element("members")!.Elements("member").ToList();
        Assert.True(members.Count >= 5, $"{id}.xml documents {members.Count} members");
        Assert.Contains(members, m => ((string)m.Attribute("name")!).StartsWith("T:", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void The_package_README_is_the_package_own_not_the_repository_README(string id)
    {
        using var package = ZipFile.OpenRead(PackedPackages.PathOf(id));
        Assert.Equal("README.md", PackedPackages.Metadata(package, id).Child("readme")?.Value);

        var packed = PackedPackages.Read(package, "README.md");
        var own = File.ReadAllBytes(Path.Combine(PackedPackages.RepositoryRoot, "src", id, "README.md"));
        Assert.Equal(own, packed);

        var text = Encoding.UTF8.GetString(packed);
        Assert.StartsWith($"# {id}\n", text.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.True(packed.Length < 8 * 1024, $"{id}'s README is {packed.Length} bytes: a package README stays short");
        Assert.Contains("```csharp", text, StringComparison.Ordinal);
        Assert.Contains(PackedPackages.ProjectUrl + "/tree/main/docs", text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void The_nuspec_names_the_project_repository_licence_and_tags(string id)
    {
        using var package = ZipFile.OpenRead(PackedPackages.PathOf(id));
        var metadata = PackedPackages.Metadata(package, id);

        Assert.Equal(PackedPackages.ProjectUrl, metadata.Child("projectUrl")?.Value);
        var repository = metadata.Child("repository");
        Assert.NotNull(repository);
        Assert.Equal("git", (string?)repository.Attribute("type"));
        Assert.Equal(PackedPackages.ProjectUrl, (string?)repository.Attribute("url"));
        Assert.Matches("^[0-9a-f]{40}$", (string?)repository.Attribute("commit") ?? "");

        Assert.Equal("Apache-2.0", metadata.Child("license")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Child("description")?.Value));
        var tags = (metadata.Child("tags")?.Value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("MassTransit", tags);
        Assert.Contains(TransportTag[id], tags);
    }

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void The_symbol_package_holds_the_PDB_of_the_packed_assembly(string id)
    {
        var (codeView, _, pdb) = AssemblyAndPdb(id);
        using var provider = MetadataReaderProvider.FromPortablePdbImage(System.Collections.Immutable.ImmutableArray.Create(pdb));
        var reader = provider.GetMetadataReader();

        var pdbGuid = new Guid(reader.DebugMetadataHeader!.Id.AsSpan(0, 16));
        Assert.Equal(codeView.Guid, pdbGuid);
        Assert.Equal($"{id}.pdb", Path.GetFileName(codeView.Path));
    }

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void The_assembly_and_PDB_carry_no_path_of_the_build_machine(string id)
    {
        var (codeView, dll, pdb) = AssemblyAndPdb(id);

        // The DLL's pointer to its PDB is mapped (deterministic source paths), not /home/.../obj/Release/....
        Assert.StartsWith("/_/", codeView.Path, StringComparison.Ordinal);

        using var provider = MetadataReaderProvider.FromPortablePdbImage(System.Collections.Immutable.ImmutableArray.Create(pdb));
        var reader = provider.GetMetadataReader();
        var documents = reader.Documents.Select(h => reader.GetString(reader.GetDocument(h).Name)).ToList();
        Assert.NotEmpty(documents);
        Assert.All(documents, d => Assert.StartsWith("/_/", d, StringComparison.Ordinal));

        var root = PackedPackages.RepositoryRoot.TrimEnd('/');
        foreach (var (name, bytes) in new[] { ("DLL", dll), ("PDB", pdb) })
        {
            Assert.True(IndexOf(bytes, Encoding.UTF8.GetBytes(root)) < 0, $"{id}'s {name} contains the build path {root} (UTF-8)");
            Assert.True(IndexOf(bytes, Encoding.Unicode.GetBytes(root)) < 0, $"{id}'s {name} contains the build path {root} (UTF-16)");
        }
    }

    [Theory]
    [MemberData(nameof(PackedPackages.All), MemberType = typeof(PackedPackages))]
    public void The_PDB_maps_its_sources_to_the_repository_at_the_packed_commit(string id)
    {
        var (_, _, pdb) = AssemblyAndPdb(id);
        using var provider = MetadataReaderProvider.FromPortablePdbImage(System.Collections.Immutable.ImmutableArray.Create(pdb));
        var reader = provider.GetMetadataReader();

        var sourceLink = reader.GetCustomDebugInformation(EntityHandle.ModuleDefinition)
            .Select(reader.GetCustomDebugInformation)
            .Where(c => reader.GetGuid(c.Kind) == SourceLinkKind)
            .Select(c => Encoding.UTF8.GetString(reader.GetBlobBytes(c.Value)))
            .SingleOrDefault();
        Assert.True(sourceLink is not null, $"{id}'s PDB has no SourceLink information");

        using var json = JsonDocument.Parse(sourceLink);
        var documents = json.RootElement.GetProperty("documents").EnumerateObject().ToList();
        var map = Assert.Single(documents);
        Assert.Equal("/_/*", map.Name);

        using var package = ZipFile.OpenRead(PackedPackages.PathOf(id));
        var commit = (string?)PackedPackages.Metadata(package, id).Child("repository")?.Attribute("commit");
        Assert.Equal($"https://raw.githubusercontent.com/masstransit-patterns/MassTransit.Patterns/{commit}/*", map.Value.GetString());
    }

    static (CodeViewDebugDirectoryData CodeView, byte[] Dll, byte[] Pdb) AssemblyAndPdb(string id)
    {
        byte[] dll;
        using (var package = ZipFile.OpenRead(PackedPackages.PathOf(id)))
            dll = PackedPackages.Read(package, $"lib/{Tfm}/{id}.dll");
        byte[] pdb;
        using (var symbols = ZipFile.OpenRead(PackedPackages.PathOf(id, ".snupkg")))
            pdb = PackedPackages.Read(symbols, $"lib/{Tfm}/{id}.pdb");

        using var pe = new PEReader(new MemoryStream(dll));
        var entry = pe.ReadDebugDirectory().Single(e => e.Type == DebugDirectoryEntryType.CodeView);
        return (pe.ReadCodeViewDebugDirectoryData(entry), dll, pdb);
    }

    static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
