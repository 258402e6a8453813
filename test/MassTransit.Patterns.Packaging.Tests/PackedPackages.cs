using System.IO.Compression;
using System.Xml.Linq;

namespace MassTransit.Patterns.Packaging.Tests;

/// <summary>The packed packages in artifacts/packages (build/test.sh packs them before the tests run).</summary>
public static class PackedPackages
{
    public const string ProjectUrl = "https://github.com/masstransit-patterns/MassTransit.Patterns";

    public static readonly string[] Ids =
    [
        "MassTransit.Patterns",
        "MassTransit.Patterns.RabbitMQ",
        "MassTransit.Patterns.EntityFrameworkCore",
        "MassTransit.Patterns.AzureServiceBus",
        "MassTransit.Patterns.Dashboard",
    ];

    public static TheoryData<string> All => new(Ids);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Directory => Path.Combine(RepositoryRoot, "artifacts", "packages");

    static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MassTransit.Patterns.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"No MassTransit.Patterns.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>The one .nupkg (or .snupkg) of <paramref name="id"/>; fails naming what was found otherwise.</summary>
    public static string PathOf(string id, string extension = ".nupkg")
    {
        var pattern = new System.Text.RegularExpressions.Regex(
            "^" + System.Text.RegularExpressions.Regex.Escape(id) + @"\.\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?" + System.Text.RegularExpressions.Regex.Escape(extension) + "$");
        var found = System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetFiles(Directory).Where(f => pattern.IsMatch(Path.GetFileName(f))).ToArray()
            : [];
        Assert.True(found.Length == 1,
            $"expected one {id}.<version>{extension} in {Directory} (build/test.sh packs them: dotnet pack MassTransit.Patterns.sln -c Release -o artifacts/packages), found {found.Length}: {string.Join(", ", found.Select(Path.GetFileName))}");
        return found[0];
    }

    /// <summary>The version the packages were packed with (read from the core package's file name).</summary>
    public static string Version
    {
        get
        {
            var name = Path.GetFileNameWithoutExtension(PathOf("MassTransit.Patterns"));
            return name["MassTransit.Patterns.".Length..];
        }
    }

    public static byte[] Read(ZipArchive archive, string entryPath)
    {
        var entry = archive.GetEntry(entryPath);
        Assert.True(entry is not null, $"no {entryPath} in the package; it holds: {string.Join(", ", archive.Entries.Select(e => e.FullName))}");
        using var stream = entry.Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    public static XElement Metadata(ZipArchive archive, string id)
    {
        var nuspec = XDocument.Load(new MemoryStream(Read(archive, id + ".nuspec")));
        return nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    public static XElement? Child(this XElement element, string localName) =>
        element.Elements().SingleOrDefault(e => e.Name.LocalName == localName);
}
