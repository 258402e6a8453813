namespace MassTransit.Patterns.Watch;

/// <summary>
/// The read side of a watch source, whatever its value type: its name, its store and how many watchers it pruned. Each
/// <c>AddWatchSource&lt;TValue&gt;</c> registers its source as one (the dashboard reads them all with
/// <c>GetServices&lt;IWatchSourceView&gt;()</c>).
/// </summary>
public interface IWatchSourceView
{
    /// <summary>The source's name in the store.</summary>
    string Name { get; }

    /// <summary>Where the source keeps its values and registry.</summary>
    IWatchStore Store { get; }

    /// <summary>Watchers removed since start because a notification could not be delivered after every attempt.</summary>
    long PrunedUnreachable { get; }

    /// <summary>Watchers removed since start because their lease ended (by this process's sweep).</summary>
    long PrunedExpired { get; }
}
