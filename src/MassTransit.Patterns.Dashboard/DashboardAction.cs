namespace MassTransit.Patterns.Dashboard;

/// <summary>The kinds of action the console authorizes separately.</summary>
enum DashboardAction
{
    View,
    Edit,
    Resubmit,
    Discard,
    Operate
}
