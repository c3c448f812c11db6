//! Topological sort with nixpkgs' `lib.toposort` order (depth-first from
//! the head of the list), as home-manager's `dag.topoSort` uses it, so
//! `home.activation` runs in the order home-manager would run it.

/// `before(a, b)`: `a` must come before `b`. Returns the sorted items
/// or the names on a cycle.
pub fn toposort<T: Clone>(
    items: Vec<T>,
    before: &dyn Fn(&T, &T) -> bool,
) -> Result<Vec<T>, Vec<T>> {
    let mut list = items;
    let mut result = Vec::new();
    loop {
        if list.len() < 2 {
            result.extend(list);
            return Ok(result);
        }
        // listDfs with stopOnCycles
        let mut us = list[0].clone();
        let mut visited: Vec<T> = Vec::new();
        let mut rest: Vec<T> = list[1..].to_vec();
        loop {
            if visited.iter().any(|x| before(x, &us)) {
                let mut cycle = vec![us];
                cycle.extend(visited);
                cycle.reverse();
                return Err(cycle);
            }
            let (b_right, b_wrong): (Vec<T>, Vec<T>) =
                rest.into_iter().partition(|x| before(x, &us));
            if b_right.is_empty() {
                result.push(us);
                // toposort continues on (visited ++ rest)
                let mut next = visited;
                next.extend(b_wrong);
                list = next;
                break;
            }
            let mut new_visited = vec![us];
            new_visited.extend(visited);
            visited = new_visited;
            us = b_right[0].clone();
            rest = b_right[1..].to_vec();
            rest.extend(b_wrong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_like_lib_toposort() {
        // nixpkgs' own doc example:
        // toposort hasPrefix [ "/home/user" "other" "/" "/home" ]
        //   == { result = [ "/" "/home" "/home/user" "other" ]; }
        let v = vec!["/home/user", "other", "/", "/home"];
        let r = toposort(v, &|a: &&str, b: &&str| b.starts_with(a)).unwrap();
        assert_eq!(r, vec!["/", "/home", "/home/user", "other"]);
        let c = toposort(vec![1, 2], &|_: &i32, _: &i32| true);
        assert!(c.is_err());
    }
}
