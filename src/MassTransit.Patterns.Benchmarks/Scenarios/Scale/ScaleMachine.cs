namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>What a curve step reads from the machine and the runtime: the load average, and managed memory after a full GC.</summary>
public static class ScaleMachine
{
    /// <summary>The 1-minute load average (from /proc/loadavg); NaN where there is none.</summary>
    public static double LoadAverage()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    /// <summary>Managed heap bytes after full, blocking, compacting collections (finalizers run between them).</summary>
    public static long ManagedBytesAfterFullGc()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
